"""zoo.cli.errors: every densenet-zoo command fails the same way (``error: <message>`` on stderr, exit 1)."""

from __future__ import annotations

import importlib

import click
import pytest
from click.testing import CliRunner

from zoo.cli import main
from zoo.cli.errors import USER_ERRORS, CommandError, error_message, is_user_error, reports_errors


def _commands(group: click.Group) -> list[click.Command]:
    found = []
    for command in group.commands.values():
        found.extend(_commands(command) if isinstance(command, click.Group) else [command])
    return found


@pytest.mark.parametrize("qualified_name", sorted(USER_ERRORS))
def test_user_error_names_resolve_to_exception_classes(qualified_name):
    """The classes are matched by name (no import at start-up); a rename must fail here, not silently."""
    module_name, class_name = qualified_name.rsplit(".", 1)
    error_class = getattr(importlib.import_module(module_name), class_name)
    assert issubclass(error_class, Exception) and error_class.__module__ == module_name


def test_subclasses_and_file_errors_are_user_errors_and_bugs_are_not():
    from converters.t7 import T7FormatError
    from zoo.registry.errors import UnknownModelError
    from zoo.training.engine import NonFiniteLossError

    assert is_user_error(T7FormatError("a table", "junk", 12, "model.t7"))
    assert is_user_error(UnknownModelError("unknown model 'x'"))
    assert is_user_error(NonFiniteLossError("loss became nan"))
    assert is_user_error(FileExistsError("out.safetensors already exists"))
    assert not is_user_error(ValueError("bug")) and not is_user_error(RuntimeError("bug"))


def test_every_command_reports_errors_through_the_helper():
    wrapper_code = reports_errors(lambda: None).__code__
    commands = _commands(main)
    assert len(commands) == 12  # every leaf command, manifest pin and export-hub included
    assert [command.name for command in commands if command.callback.__code__ is not wrapper_code] == []


def _failing_command(error: BaseException) -> click.Command:
    @click.command()
    @reports_errors
    def command() -> None:
        raise error

    return command


def test_a_project_error_is_one_line_on_stderr_with_exit_status_1():
    from converters.errors import ConversionError

    result = CliRunner().invoke(_failing_command(ConversionError("expected nn.Sequential\n  found nn.Linear", "model")))
    assert result.exit_code == 1
    assert result.stderr == "error: model: expected nn.Sequential found nn.Linear\n" and result.stdout == ""


def test_a_file_error_is_one_line_and_a_bug_keeps_its_traceback():
    result = CliRunner().invoke(_failing_command(FileNotFoundError("no such file: x.t7")))
    assert (result.exit_code, result.stderr) == (1, "error: no such file: x.t7\n")

    bug = CliRunner().invoke(_failing_command(ZeroDivisionError("division by zero")))
    assert isinstance(bug.exception, ZeroDivisionError) and "error:" not in bug.output


def test_command_error_keeps_its_exit_code():
    result = CliRunner().invoke(_failing_command(CommandError("the loss became nan", exit_code=3)))
    assert (result.exit_code, result.stderr) == (3, "error: the loss became nan\n")


def test_error_message_drops_the_quotes_of_a_plain_key_error():
    from zoo.registry.errors import UnknownModelError

    assert error_message(KeyError("unknown model 'x'")) == "unknown model 'x'"
    assert error_message(UnknownModelError("unknown model 'x'")) == "unknown model 'x'"
    assert error_message(ValueError("batch size must be a multiple of 4")) == "batch size must be a multiple of 4"

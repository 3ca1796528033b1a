"""One way for every ``densenet-zoo`` command to fail: ``error: <message>`` on stderr, exit status 1.

Exit status of every command: 0 on success, 1 when the project reports an
error the user can fix (a malformed checkpoint, an unknown model name, a bad
image folder, an existing output file ...), 2 on usage errors (click's own
``Usage: ... Error: ...``). ``train`` adds 3 for a diverging run and 128+n
after signal n.

The project's exception classes are matched by their qualified names, not
imported: this module runs at CLI start-up, and importing them would pull in
torch. An exception whose module was never imported cannot have been raised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

Command = TypeVar("Command", bound=Callable[..., Any])

#: The base classes of the errors a user can fix, as ``module.ClassName`` (each package's hierarchy root).
#: tests/test_cli_errors.py checks that every name still resolves to an exception class.
USER_ERRORS = frozenset(
    {
        "converters.t7.errors.T7Error",
        "converters.errors.ConversionError",
        "zoo.registry.errors.RegistryError",
        "zoo.data.decode.ImageDecodeError",
        "zoo.data.folder.DatasetLayoutError",
        "zoo.evaluation.loading.ModelSpecError",
        "zoo.training.checkpoint.CheckpointError",
        "zoo.training.datasets.DataError",
        "zoo.training.engine.TrainingError",
    }
)

#: Operating-system errors about the files a user named (a missing input, an output that exists or cannot be written).
FILE_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


class CommandError(click.ClickException):
    """A failure shown as the one line ``error: <message>`` on stderr; exit status ``exit_code`` (default 1)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the exception's layout
        self.exit_code = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


def is_user_error(error: BaseException) -> bool:
    """True for the project's typed errors (:data:`USER_ERRORS`, subclasses included) and :data:`FILE_ERRORS`."""
    if isinstance(error, FILE_ERRORS):
        return True
    return any(f"{cls.__module__}.{cls.__qualname__}" in USER_ERRORS for cls in type(error).__mro__)


def error_message(error: BaseException) -> str:
    """The text of ``error`` for a user: a plain KeyError's message without the quotes ``str`` adds."""
    if type(error) is KeyError and len(error.args) == 1:
        return str(error.args[0])
    return str(error)


def reports_errors(command: Command) -> Command:
    """Decorate a click command callback: the project's errors become :class:`CommandError` (one line, exit 1).

    Anything else (a bug) keeps its traceback.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as error:
            if is_user_error(error):
                raise CommandError(error_message(error)) from error
            raise

    return run  # type: ignore[return-value]

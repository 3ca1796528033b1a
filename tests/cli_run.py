"""One ``densenet-zoo`` command run in-process, as the tests of the command line call it."""

from __future__ import annotations

from click.testing import CliRunner


def run(*arguments: str) -> tuple[int, str, str]:
    """``densenet-zoo ARGUMENTS``: its exit code, standard output and standard error."""
    from zoo.cli import main

    result = CliRunner().invoke(main, list(arguments))
    return result.exit_code, result.stdout, result.stderr

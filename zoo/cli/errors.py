"""One way for every ``densenet-zoo`` command to fail: ``error: <message>`` on stderr, exit status 1.

Exit status of every command: 0 on success, 1 when the project reports an
error the user can fix (a malformed checkpoint, an unknown model name, a bad
image folder, an existing output file ...), 2 on usage errors (click's own
``Usage: ... Error: ...``), 130 after SIGINT and 143 after SIGTERM
(:func:`exits_on_signals`: the signal is raised where the program was, so
temporary files and locks are cleaned up on the way out). ``train`` adds 3 for
a diverging run and, after writing its checkpoint, 128+n for signal n.

The project's exception classes come from each package's torch-free ``errors``
module, so that this module, which runs at CLI start-up, does not pull in torch.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar

import click

from converters.errors import ConversionError
from zoo.data.errors import CifarError, DatasetLayoutError, ImageDecodeError
from zoo.errors import FaceEmbeddingError, FigureError, ModelArgumentError, StyleTransferError
from zoo.evaluation.errors import ModelSpecError
from zoo.registry.errors import RegistryError
from zoo.reproduction.errors import ReproductionError
from zoo.training.errors import CheckpointError, DataError, TrainingError

Command = TypeVar("Command", bound=Callable[..., Any])

#: The base classes of the errors a user can fix (each package's hierarchy roots), besides
#: converters.t7's T7Error (see :func:`user_error_classes`).
USER_ERRORS: tuple[type[Exception], ...] = (
    ConversionError,
    RegistryError,
    CifarError,
    ImageDecodeError,
    DatasetLayoutError,
    ModelSpecError,
    ModelArgumentError,
    StyleTransferError,
    FaceEmbeddingError,
    FigureError,
    CheckpointError,
    DataError,
    TrainingError,
    ReproductionError,
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


def user_error_classes() -> tuple[type[Exception], ...]:
    """:data:`USER_ERRORS` and :class:`converters.t7.T7Error`.

    T7Error is imported here, when an error is being reported, not at start-up: its package
    ``converters.t7`` imports numpy and torchfile, which would double the command line's start-up time.
    """
    from converters.t7.errors import T7Error

    return (*USER_ERRORS, T7Error)


def is_user_error(error: BaseException) -> bool:
    """True for the project's typed errors (:func:`user_error_classes`, subclasses included) and
    :data:`FILE_ERRORS`."""
    return isinstance(error, (FILE_ERRORS, user_error_classes()))


#: How torch's DataLoader re-raises a worker's exception: its message is the worker's whole traceback.
WORKER_TRACEBACK = "Original Traceback (most recent call last):"


def error_message(error: BaseException) -> str:
    """The text of ``error`` for a user: a plain KeyError's message without the quotes ``str`` adds, and an
    error re-raised from a DataLoader worker without the worker's traceback."""
    if type(error) is KeyError and len(error.args) == 1:
        return str(error.args[0])
    text = str(error)
    if WORKER_TRACEBACK in text:
        kind = type(error)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        _, found, original = text.rpartition(f"\n{name}: ")
        if found:
            return original.strip()
    return text


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


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) raised where the program was, like Ctrl-C's ``KeyboardInterrupt``.

    A ``KeyboardInterrupt`` so that code which already handles Ctrl-C (``except Exception`` does
    not catch it; ``with`` blocks and ``finally`` clauses run) handles both signals alike.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def exits_on_signals() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise :class:`Interrupted`; one that ends the block becomes a line
    ``interrupted by SIGNAME`` on stderr and exit status 128 + n (130, 143), after the cleanup it caused.

    Signals the process ignores (e.g. SIGINT of a background job) stay ignored. Outside the main
    thread (where handlers cannot be set) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _raise_interrupted)
    try:
        yield
    except KeyboardInterrupt as interrupt:
        for signum in STOP_SIGNALS:  # the cleanup is done; a second signal must not cut this message short
            signal.signal(signum, signal.SIG_IGN)
        signum = getattr(interrupt, "signum", signal.SIGINT)
        click.echo(f"interrupted by {signal.Signals(signum).name}", err=True)
        raise click.exceptions.Exit(128 + signum) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

"""zoo.cli.errors: every densenet-zoo command fails the same way (``error: <message>`` on stderr, exit 1)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from zoo.cli import main
from zoo.cli.errors import CommandError, error_message, is_user_error, reports_errors, user_error_classes


def _commands(group: click.Group) -> list[click.Command]:
    found = []
    for command in group.commands.values():
        found.extend(_commands(command) if isinstance(command, click.Group) else [command])
    return found


@pytest.mark.parametrize(
    "public_name",
    [
        "converters.t7.T7Error",
        "converters.errors.ConversionError",
        "zoo.registry.RegistryError",
        "zoo.data.cifar.CifarError",
        "zoo.data.decode.ImageDecodeError",
        "zoo.data.folder.DatasetLayoutError",
        "zoo.evaluation.ModelSpecError",
        "zoo.evaluation.loading.ModelSpecError",
        "zoo.training.checkpoint.CheckpointError",
        "zoo.training.datasets.DataError",
        "zoo.training.engine.TrainingError",
        "zoo.training.TrainingError",
        "zoo.lua_models.ModelArgumentError",
        "zoo.style.StyleTransferError",
        "zoo.faces.FaceEmbeddingError",
        "zoo.figures.FigureError",
        "zoo.reproduction.ReproductionError",
    ],
)
def test_the_command_line_catches_the_error_classes_users_import(public_name):
    """The CLI imports each package's torch-free errors module; the classes are those the packages export."""
    module_name, class_name = public_name.rsplit(".", 1)
    error_class = getattr(importlib.import_module(module_name), class_name)
    assert error_class in user_error_classes() and error_class.__module__.endswith(".errors")


def test_the_error_modules_import_without_torch():
    code = (
        "import sys, zoo.cli.errors; "
        "print([m for m in ('torch', 'numpy', 'torchfile', 'converters.t7') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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
    assert len(commands) == 17  # every leaf command, manifest pin, export-hub, figure imagenet, benchmark and table
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


def test_error_message_of_an_error_from_a_data_loader_worker_is_the_original_message():
    from torch.utils.data import DataLoader

    from zoo.data.decode import ImageDecodeError

    class Failing:
        def __len__(self):
            return 1

        def __getitem__(self, index):
            raise ImageDecodeError("cannot decode image 'a.JPEG': truncated\nsecond line")

    batches = iter(DataLoader(Failing(), num_workers=1))
    with pytest.raises(ImageDecodeError) as caught:
        next(batches)
    error = caught.value.with_traceback(None)
    del caught, batches  # the traceback held the loader: now its worker is shut down here, not in a later test
    assert "Original Traceback" in str(error)
    assert error_message(error) == "cannot decode image 'a.JPEG': truncated\nsecond line"


def test_error_message_drops_the_quotes_of_a_plain_key_error():
    from zoo.registry.errors import UnknownModelError

    assert error_message(KeyError("unknown model 'x'")) == "unknown model 'x'"
    assert error_message(UnknownModelError("unknown model 'x'")) == "unknown model 'x'"
    assert error_message(ValueError("batch size must be a multiple of 4")) == "batch size must be a multiple of 4"


def _signalling_command(signum: int, directory):
    """A command that sends itself ``signum`` while an atomic output file is half written."""
    from densenet_zoo_util.atomic import atomic_output

    @click.command()
    def command() -> None:
        with atomic_output(directory / "result.bin") as stream:
            stream.write(b"half")
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the signal interrupts this
            stream.write(b" and the rest")

    group = type(main)()  # the densenet-zoo group class, so the command runs as every command does
    group.add_command(command, "write")
    return group


@pytest.fixture
def sigint_as_at_a_terminal():
    """SIGINT raises KeyboardInterrupt, as when pytest runs at a terminal (a background job starts with it ignored)."""
    original = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, original)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_cleans_up_and_exits_with_128_plus_its_number(tmp_path, signum, status, sigint_as_at_a_terminal):
    previous = signal.getsignal(signum)
    started = time.monotonic()
    result = CliRunner().invoke(_signalling_command(signum, tmp_path), ["write"])
    assert (result.exit_code, result.stderr) == (status, f"interrupted by {signal.Signals(signum).name}\n")
    assert time.monotonic() - started < 4 and os.listdir(tmp_path) == []  # no result.bin, no .partial
    assert signal.getsignal(signum) is previous


def test_ignored_signals_stay_ignored(tmp_path):
    from zoo.cli.errors import exits_on_signals

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with exits_on_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)


# ----------------------------------------------------------------------------- real processes, real signals

REPO = Path(__file__).resolve().parents[1]


class _SlowServer:
    """127.0.0.1 HTTP server that announces 10 MB, sends 4 KB and then holds the connection open."""

    def __init__(self) -> None:
        self.sent = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(10_000_000))
                self.end_headers()
                self.wfile.write(bytes(4096))
                self.wfile.flush()
                outer.sent.set()
                outer.release.wait(timeout=60)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _cli_environment(**variables) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DENSENET_ZOO_")}
    return {**environment, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **variables}


def _as_from_a_terminal() -> None:
    """Give the child the SIGINT disposition of a command typed at a terminal.

    A shell without job control starts background jobs with SIGINT ignored, and a
    command keeps signals it was started ignoring; the test must not depend on how
    the test run itself was started.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(arguments, **variables) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", *arguments],
        cwd=REPO,
        env=_cli_environment(**variables),
        preexec_fn=_as_from_a_terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_download_blocked_on_a_slow_server_stops_cleanly_on_a_signal(tmp_path, signum, status):
    from zoo.registry.manifest import SCHEMA_VERSION

    server = _SlowServer()
    try:
        source = {"type": "url", "url": server.url("tiny.t7"), "filename": "tiny.t7", "format": "t7"}
        model = {"title": "tiny", "architecture": "densenet121", "published": {"top1_error": 50.0}, "sources": [source]}
        manifest = tmp_path / "manifest.json"
        manifest.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "models": {"tiny": model}}))
        cache = tmp_path / "cache"
        process = _start(
            ["download", "tiny", "--quiet"], DENSENET_ZOO_HOME=str(cache), DENSENET_ZOO_MANIFEST=str(manifest)
        )
        assert server.sent.wait(timeout=60), process.communicate(timeout=5)
        time.sleep(0.3)  # the client is now blocked reading the rest of the body
        process.send_signal(signum)
        _stdout, stderr = process.communicate(timeout=30)
    finally:
        server.close()
    assert process.returncode == status, stderr
    assert stderr.strip().splitlines()[-1] == f"interrupted by {signal.Signals(signum).name}"
    left = sorted(path.name for path in cache.rglob("*") if path.is_file())
    # only the intact bytes received so far may stay, as the resumable .part a later download continues
    assert [name for name in left if not name.endswith(".part")] == [], left


@pytest.fixture(scope="module")
def densenet121_t7(tmp_path_factory):
    """A 65 MB Torch7 checkpoint of densenet121's shape, written by the project's Lua-checkpoint writer."""
    from converters import t7
    from converters.synthetic.densenet import densenet_checkpoint
    from zoo.models.densenet import DenseNetConfig

    path = tmp_path_factory.mktemp("t7") / "densenet121.t7"
    t7.save(densenet_checkpoint(DenseNetConfig(growth_rate=32, block_config=(6, 12, 24, 16))), path)
    return path


def test_a_convert_stopped_while_writing_leaves_no_partial_output(densenet121_t7, tmp_path):
    for attempt in range(3):  # the signal must land while the output is being written
        out = tmp_path / f"attempt{attempt}"
        out.mkdir()
        process = _start(["convert", str(densenet121_t7), "-o", str(out / "d121.safetensors")])
        while process.poll() is None and not any(name.endswith(".partial") for name in os.listdir(out)):
            time.sleep(0.001)
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=60)
        if process.returncode != 0:
            break
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted by SIGTERM"
    assert os.listdir(out) == []  # neither the output nor its temporary file

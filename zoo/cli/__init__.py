"""The ``densenet-zoo`` command line: a thin click layer over the Python API.

Each group of commands lives in its own module and is registered here. Those
modules import only click at start-up (the API they call is imported inside
each command), so ``densenet-zoo --help`` does not wait for torch. Every
command runs under :func:`zoo.cli.errors.exits_on_signals` (SIGINT: 130,
SIGTERM: 143, after cleaning up).
"""

from __future__ import annotations

import click

from zoo import __version__
from zoo.cli.convert import convert_command, inspect_command
from zoo.cli.errors import exits_on_signals
from zoo.cli.evaluate import evaluate_command, predict_command
from zoo.cli.faces import embed_command
from zoo.cli.figures import figure_group
from zoo.cli.hub import export_hub_command
from zoo.cli.registry import (
    demo_command,
    download_command,
    info_command,
    list_command,
    manifest_group,
    verify_command,
)
from zoo.cli.reproduce import benchmark_command, table_command
from zoo.cli.style import stylize_command
from zoo.cli.train import train_command


class _Commands(click.Group):
    """The command group; each command runs under :func:`exits_on_signals`."""

    def invoke(self, ctx: click.Context) -> object:
        with exits_on_signals():
            return super().invoke(ctx)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="densenet-zoo")
def main() -> None:
    """DenseNet models from the original Lua Torch7 checkpoints, in PyTorch."""


for command in (
    demo_command,
    list_command,
    info_command,
    download_command,
    verify_command,
    manifest_group,
    convert_command,
    inspect_command,
    export_hub_command,
    evaluate_command,
    predict_command,
    train_command,
    stylize_command,
    embed_command,
    figure_group,
    benchmark_command,
    table_command,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The ``densenet-zoo`` command line: a thin click layer over the Python API.

Each group of commands lives in its own module and is registered here.
"""

from __future__ import annotations

import click

from zoo import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="densenet-zoo")
def main() -> None:
    """DenseNet models from the original Lua Torch7 checkpoints, in PyTorch."""


from zoo.cli.train import train_command  # noqa: E402

main.add_command(train_command)


from zoo.cli.evaluate import evaluate_command, predict_command  # noqa: E402

main.add_command(evaluate_command)
main.add_command(predict_command)


from zoo.cli.convert import convert_command, inspect_command  # noqa: E402

main.add_command(convert_command)
main.add_command(inspect_command)


from zoo.cli.registry import register_registry_commands  # noqa: E402

register_registry_commands(main)


if __name__ == "__main__":  # pragma: no cover
    main()

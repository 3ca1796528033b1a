"""``python -m zoo.cli ...``: the ``densenet-zoo`` command, e.g. under ``torchrun``."""

from zoo.cli import main

if __name__ == "__main__":
    main()

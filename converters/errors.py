"""The exceptions of the DenseNet conversion layer (``converters``).

Malformed Torch7 *files* raise ``converters.t7.T7FormatError``; a well-formed
file whose module tree is not a DenseNet this project can represent raises
:class:`ConversionError`. Both are what a caller (and the CLI) catches.
"""

from __future__ import annotations


class ConversionError(Exception):
    """A Lua module tree that cannot be converted into a ``zoo.DenseNet``.

    The message names the module path in Lua notation (1-based, as
    ``print(model)`` numbers them, e.g. ``model.modules[5].modules[1]``), what
    was expected there and what was found.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)

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


class UnsupportedModuleError(ConversionError):
    """A Lua module tree holding classes no translator is registered for.

    Raised once for the whole tree, after it has been walked: ``unsupported``
    maps every such class name to the Lua paths where it occurs, so a user
    sees everything that is missing at once (and can add translators with
    ``converters.register_module``).
    """

    #: Lua paths shown per class in the message (all of them are in ``unsupported``).
    SHOWN_PATHS = 5

    def __init__(self, unsupported: dict[str, list[str]]) -> None:
        self.unsupported = {name: list(paths) for name, paths in sorted(unsupported.items())}
        listed = []
        for name, paths in self.unsupported.items():
            shown = ", ".join(paths[: self.SHOWN_PATHS])
            more = f" and {len(paths) - self.SHOWN_PATHS} more" if len(paths) > self.SHOWN_PATHS else ""
            listed.append(f"{name} at {shown}{more}")
        first = next(iter(self.unsupported))
        super().__init__(
            f"no translator for {len(self.unsupported)} Torch7 module class(es): {'; '.join(listed)}. "
            f"Add one with converters.register_module({first!r}, translator)"
        )

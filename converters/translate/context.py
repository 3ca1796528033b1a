"""The translation context: where a translator is in the Lua tree, and validated readers of its fields.

One :class:`TranslationContext` exists per Lua module being translated. It
knows the module's Lua path (1-based, as ``print(model)`` numbers it:
``model.modules[5].modules[1]``) and its PyTorch name prefix (``4.0.``),
reads fields with the checks a file from a stranger needs (through the shared readers of
:mod:`converters.lua_modules`: numbers finite and
of the right kind, tensors floating and backed by distinct storage elements),
translates children (``ctx.child``), and binds module tensors to lazy sources
(``ctx.assign``). Every failure is a ``ConversionError`` naming the Lua path.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from converters import t7
from converters.errors import ConversionError
from converters.lua_modules import (
    LUA_INT_MAX,
    LUA_INT_MIN,
    boolean_field,
    child_modules,
    describe,
    ffi_boolean_field,
    float_field,
    integer_field,
    integers_field,
    lazy_view,
    lua_truthy,
    tensor_field,
)
from converters.translate.registry import translator_for
from converters.translate.sources import NUMPY_DTYPES, TensorSource

__all__ = ["TranslationContext", "TranslationState"]

#: Exceptions a translator may raise on an odd field combination (e.g. a torch constructor refusing a value);
#: they become a ConversionError naming the Lua path.
_TRANSLATOR_ERRORS = (
    ValueError,
    TypeError,
    RuntimeError,
    OverflowError,
    ZeroDivisionError,
    IndexError,
    KeyError,
    AttributeError,
)


@dataclass
class TranslationState:
    """What a whole-tree translation accumulates (shared by every context of one ``translate`` call)."""

    dtype: torch.dtype | None
    sources: dict[str, TensorSource] = field(default_factory=dict)
    lua_paths: dict[str, str] = field(default_factory=dict)
    lua_classes: dict[str, str] = field(default_factory=dict)
    module_counts: collections.Counter[str] = field(default_factory=collections.Counter)
    #: floating tensor fields of translated modules that no translator read (``gradWeight``, ``output``, ...)
    ignored_fields: collections.Counter[str] = field(default_factory=collections.Counter)
    unsupported: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: id(Lua module) -> (Lua module, its PyTorch module, its name prefix): one PyTorch module per Lua object.
    translated: dict[int, tuple[t7.T7Object, torch.nn.Module, str]] = field(default_factory=dict)
    #: ids of the Lua modules being translated right now (the current branch), to refuse cycles.
    active: set[int] = field(default_factory=set)
    #: ids of PyTorch modules whose training flag is set already.
    flagged: set[int] = field(default_factory=set)


class TranslationContext:
    """The Lua module being translated, its Lua path and PyTorch prefix, and safe readers of its fields.

    ``training`` starts as Lua's truthiness of the module's ``train`` field
    (``if self.train then``); a translator whose Lua class hands ``train`` to C
    through the LuaJIT FFI (where ``0`` is false) sets it from
    :meth:`ffi_boolean` instead. It becomes the module's ``training`` flag.
    """

    def __init__(self, lua_module: t7.T7Object, path: str, prefix: str, state: TranslationState) -> None:
        self.lua_module = lua_module
        self.path = path
        self.prefix = prefix
        self.state = state
        self.training = self.truthy("train")
        #: names of the tensor fields read through :meth:`tensor` (the others are reported as ignored)
        self.tensor_fields_read: set[str] = set()

    @property
    def typename(self) -> str:
        return self.lua_module.typename

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype requested for every tensor (``load_module(dtype=...)``), None to keep the file's."""
        return self.state.dtype

    def error(self, message: str) -> ConversionError:
        """A ConversionError naming this module's Lua path (``raise ctx.error(...)``)."""
        return ConversionError(message, self.path)

    def note(self, message: str) -> None:
        """Record something the user should know about this module's translation (shown by inspect)."""
        self.state.notes.append(f"{self.path}: {message}")

    # -- scalar fields (the checks live in converters.lua_modules, shared with the DenseNet parser) ---------
    def value(self, name: str) -> Any:
        """The raw Lua value of field ``name`` (None when absent); validate it before use."""
        return self.lua_module.get(name)

    def has(self, name: str) -> bool:
        return self.lua_module.get(name) is not None

    def number(self, name: str, default: float | None = None, *, finite: bool = True) -> float:
        """Field ``name`` as a number (``default`` when absent); NaN always, +-inf unless ``finite=False``, refused."""
        return float_field(self.lua_module, name, self.path, default, finite=finite)

    def int(
        self, name: str, default: int | None = None, *, minimum: int = LUA_INT_MIN, maximum: int = LUA_INT_MAX
    ) -> int:
        """Field ``name`` as a whole number in ``[minimum, maximum]`` (a C ``int`` by default); ``default`` when
        absent."""
        return integer_field(self.lua_module, name, self.path, default, minimum=minimum, maximum=maximum)

    def optional_int(self, name: str, *, minimum: int = LUA_INT_MIN, maximum: int = LUA_INT_MAX) -> int | None:
        """Field ``name`` as a whole number, or None when absent (``nil`` in Lua)."""
        return None if self.value(name) is None else self.int(name, minimum=minimum, maximum=maximum)

    def boolean(self, name: str, default: bool | None = None) -> bool:
        """Field ``name`` as a Lua boolean (``default`` when absent; a number or string is refused)."""
        return boolean_field(self.lua_module, name, self.path, default)

    def truthy(self, name: str) -> bool:
        """Lua's ``if self.<name>``: false only for ``nil`` and ``false`` (``0`` is true in Lua)."""
        return lua_truthy(self.value(name))

    def ffi_boolean(self, name: str, default: bool = False) -> bool:
        """Field ``name`` as the ``bool`` C receives through the LuaJIT FFI: ``0`` and ``false`` are false."""
        return ffi_boolean_field(self.lua_module, name, self.path, default)

    def ints(self, name: str, *, minimum: int = LUA_INT_MIN) -> tuple[int, ...]:
        """Field ``name`` as whole numbers >= ``minimum``: a LongStorage, an integer tensor or a Lua list."""
        return integers_field(self.lua_module, name, self.path, minimum=minimum)

    # -- tensor fields -------------------------------------------------------------------------------
    def tensor(
        self, name: str, *, shape: tuple[int, ...] | None = None, ndim: tuple[int, ...] | None = None
    ) -> TensorSource:
        """Field ``name`` as a lazy source of a floating tensor (``shape`` exactly, or ``ndim`` dims if given).

        ``lua_modules.tensor_field`` checks that the view is backed by its own
        storage elements (``views.view_backing_problem``: inside the storage, no
        stride 0 along a dimension of size > 1, no self-overlap); nothing is
        read from the storage here.
        """
        tensor = tensor_field(self.lua_module, name, self.path, ndim=ndim)
        if shape is not None and tuple(tensor.size) != tuple(shape):
            raise self.error(
                f"expected field '{name}' of {self.typename} to have size {tuple(shape)}, found {tuple(tensor.size)}"
            )
        native = NUMPY_DTYPES.get(np.dtype(tensor.dtype))
        if native is None:
            raise self.error(f"expected a half, float or double '{name}' tensor, found {tensor.typename}")
        size = tuple(tensor.size)
        self.tensor_fields_read.add(name)
        return TensorSource(size, self.dtype or native, lazy_view(tensor, size), f"{self.path}.{name}", tensor)

    def optional_tensor(
        self, name: str, *, shape: tuple[int, ...] | None = None, ndim: tuple[int, ...] | None = None
    ) -> TensorSource | None:
        """Like :meth:`tensor`, None when the field is absent (``nil``)."""
        return None if self.value(name) is None else self.tensor(name, shape=shape, ndim=ndim)

    def assign(self, module: torch.nn.Module, name: str, source: TensorSource) -> None:
        """Bind parameter or buffer ``name`` (dotted, relative to ``module``) to ``source``.

        ``module`` is the one this translator returns (or an internal part of
        it); the meta placeholder gets the source's dtype, and its shape must
        be the source's.
        """
        owner_name, _, leaf = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        parameters = dict(owner.named_parameters(recurse=False))
        buffers = dict(owner.named_buffers(recurse=False))
        current = parameters.get(leaf, buffers.get(leaf))
        if current is None:
            raise self.error(f"translator of {self.typename} assigned '{name}', which its module does not have")
        if tuple(current.shape) != source.shape:
            raise self.error(
                f"{source.lua_path} has size {source.shape}, but the {self.typename} it belongs to needs "
                f"{tuple(current.shape)}"
            )
        placeholder = torch.empty(source.shape, dtype=source.dtype, device="meta")
        if leaf in parameters:
            placeholder = torch.nn.Parameter(placeholder, requires_grad=current.requires_grad)
        setattr(owner, leaf, placeholder)
        self.state.sources[self.prefix + name] = source

    # -- the module tree -----------------------------------------------------------------------------
    def child_path(self, name: str) -> str:
        """The Lua path of child ``name``: ``"0"`` is ``modules[1]``, any other name a field of that name."""
        return f"{self.path}.modules[{int(name) + 1}]" if name.isdigit() else f"{self.path}.{name}"

    def children(self) -> list[torch.nn.Module]:
        """The translated ``modules`` list of a container, named ``"0"``, ``"1"``, ... like ``torch.nn.Sequential``."""
        return [self.child(lua_child, str(index)) for index, (lua_child, _) in enumerate(self.lua_children())]

    def lua_children(self) -> list[tuple[t7.T7Object, str]]:
        """The ``modules`` list as ``(Lua module, Lua path)`` pairs (not translated)."""
        return child_modules(self.lua_module, self.path)

    def child(self, lua_child: Any, name: str, *, lua_name: str | None = None) -> torch.nn.Module:
        """Translate ``lua_child``, which the caller registers as its submodule ``name``; ``lua_name`` names it in
        the Lua path when that differs (``"0"`` for ``modules[1]``)."""
        path = self.child_path(name if lua_name is None else lua_name)
        return translate_module(lua_child, path, f"{self.prefix}{name}.", self.state)

    def inline(self, lua_child: Any, name: str) -> torch.nn.Module:
        """Translate ``lua_child`` (child ``name`` in Lua) as this module itself: it takes this module's PyTorch
        name, and that name's Lua path becomes the child's (for wrappers that only hold their model)."""
        return translate_module(lua_child, self.child_path(name), self.prefix, self.state)


def translate_module(lua_module: Any, path: str, prefix: str, state: TranslationState) -> torch.nn.Module:
    """Translate one Lua module (and, through its translator, its subtree) into a meta-device module."""
    if not isinstance(lua_module, t7.T7Object) or not isinstance(lua_module.fields, dict):
        raise ConversionError(f"expected a Torch7 module, found {describe(lua_module)}", path)
    key = id(lua_module)
    if key in state.active:
        raise ConversionError(f"{lua_module.typename} contains itself (a cycle in the module tree)", path)
    if key in state.translated:
        return _reuse(state, state.translated[key], path, prefix)
    translator = translator_for(lua_module.typename)
    context = TranslationContext(lua_module, path, prefix, state)
    state.lua_paths[prefix[:-1]] = path
    state.lua_classes[prefix[:-1]] = lua_module.typename
    if translator is None:
        state.unsupported.setdefault(lua_module.typename, []).append(path)
        if isinstance(lua_module.get("modules"), t7.T7Table):
            context.children()  # report unsupported classes inside it too
        return torch.nn.Identity()
    state.active.add(key)
    try:
        module = translator(lua_module, context)
    except _TRANSLATOR_ERRORS as error:
        raise ConversionError(f"could not translate {lua_module.typename}: {error}", path) from error
    finally:
        state.active.discard(key)
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(f"the translator of {lua_module.typename} returned {type(module).__name__}", path)
    for submodule in module.modules():
        if id(submodule) not in state.flagged:
            submodule.training = context.training
            state.flagged.add(id(submodule))
    state.translated[key] = (lua_module, module, prefix)
    state.module_counts[lua_module.typename] += 1
    state.ignored_fields.update(_unread_tensor_fields(lua_module, context.tensor_fields_read))
    return module


def _unread_tensor_fields(lua_module: t7.T7Object, read: set[str]) -> list[str]:
    """The floating tensor fields with a storage that the translator did not read (their payload stays unread)."""
    return [
        str(name)
        for name, value in lua_module.fields.items()
        if isinstance(value, t7.T7Tensor)
        and value.storage is not None
        and np.issubdtype(np.dtype(value.dtype), np.floating)
        and name not in read
    ]


def _reuse(
    state: TranslationState, entry: tuple[t7.T7Object, torch.nn.Module, str], path: str, prefix: str
) -> torch.nn.Module:
    """The module of a Lua object met before (shared in Lua, shared in PyTorch): its tensors get a second name."""
    _, module, first_prefix = entry
    for name, source in list(state.sources.items()):
        if name.startswith(first_prefix):
            state.sources[prefix + name[len(first_prefix) :]] = source
    state.lua_paths[prefix[:-1]] = path
    state.lua_classes[prefix[:-1]] = entry[0].typename
    return module

"""Write a translated Lua model as standalone PyTorch source: the ``model.py`` of ``densenet-zoo convert``.

:func:`model_source` turns a :class:`converters.translate.Translation` into the
text of a Python file that imports only torch and the standard library and
reads like hand-written PyTorch:

* the Lua classes without an exact torch builtin are the source of their
  :mod:`converters.lua_nn` runtime classes, copied (``inspect.getsource``)
  with their runtime base classes; only those the model uses;
* the network is a class ``Model`` deriving from its root module's class and
  built with constructor calls: ``nn.Conv2d(3, 64, kernel_size=(7, 7), ...)``
  for torch builtins (their ``extra_repr``), the runtime classes' keyword
  arguments (theirs), defaults left out;
* submodule names are the Lua tree's, as ``load_module`` gives them, so the
  weights' names are the same (a comment in the file states the rule);
* an nngraph ``gModule`` becomes a ``torch.nn.ModuleDict`` subclass whose
  ``forward`` runs its nodes in Lua's order, one line per node;
* ``load(path)`` reads the weights from a ``.safetensors`` file with torch and
  the standard library only and restores the training mode Lua saved.

Nothing read from the checkpoint reaches the source except numbers, booleans
and strings rendered by :func:`python_literal` (never raw text), and comments
are ASCII with every other character escaped, so a hostile file cannot inject
code into ``model.py``. :func:`check_model_source` executes the generated
source (which is ours, not the file's) on the ``meta`` device and checks that
it rebuilds the translated module: the same names, classes, settings and
tensor shapes.
"""

from __future__ import annotations

import ast
import inspect
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch

from converters.errors import ConversionError
from converters.translate import Translation
from converters.translate.load import ROOT_PATH

__all__ = ["SourceInfo", "check_model_source", "model_source", "python_literal"]

#: The longest line generated code aims at (the project's own); the model's __init__ starts two indents in.
LINE_LENGTH = 120
INIT_SPACE = LINE_LENGTH - 8
_RUNTIME_PACKAGE = "converters.lua_nn"
_GRAPH_CLASS = "converters.lua_nn.graph.Graph"
_INDENT = "    "


def python_literal(value: Any) -> str:
    """``value`` (None, bool, int, float, str, or a tuple/list/dict of them) as Python source that evaluates to it.

    ``inf`` and ``nan`` become ``float("inf")``/``float("nan")``; anything else
    is a ``TypeError``, so only plain data ever reaches generated code.
    """
    if isinstance(value, str):
        return json.dumps(value)  # a valid Python string literal, in double quotes
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f'float("{value}")'
    if isinstance(value, tuple):
        items = [python_literal(item) for item in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(python_literal(item) for item in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a plain literal: {type(value).__name__}")


def _safe_text(text: str) -> str:
    """``text`` safe inside a comment or docstring of the generated code: letters, digits, spaces and
    ``._,:;()[]/+=-`` kept, anything else (quotes, backslashes, line breaks) replaced by ``?``."""
    return "".join(char if char.isascii() and (char.isalnum() or char in " ._,:;()[]/+=-") else "?" for char in text)


def _literal_value(node: ast.expr) -> Any:
    """The value of a literal expression of an ``extra_repr`` (also ``float('inf')``, ``math.inf``, ``inf``)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "float"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
    ):
        return float(node.args[0].value)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "math":
        return {"inf": math.inf, "nan": math.nan}[node.attr]
    if isinstance(node, ast.Name) and node.id in ("inf", "nan"):
        return float(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_literal_value(node.operand)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_literal_value(item) for item in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    return ast.literal_eval(node)


def _same_literal(first: Any, second: Any) -> bool:
    """Equal values of the same types, recursively (``True`` is not ``1``, ``(0, 0)`` is not ``0``)."""
    if type(first) is not type(second):
        return False
    if isinstance(first, (tuple, list)):
        return len(first) == len(second) and all(_same_literal(a, b) for a, b in zip(first, second, strict=True))
    if isinstance(first, float) and math.isnan(first):
        return math.isnan(second)
    return first == second


def _constructor_arguments(module: torch.nn.Module, where: str) -> list[str]:
    """The arguments (after any child modules) that rebuild ``module``: its ``extra_repr`` parsed as a call's
    arguments, keyword arguments equal to the constructor's defaults left out."""
    text = module.extra_repr()
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        assert isinstance(call, ast.Call) and not any(isinstance(arg, ast.Starred) for arg in call.args)
        positional = [_literal_value(arg) for arg in call.args]
        keywords = [(keyword.arg, _literal_value(keyword.value)) for keyword in call.keywords]
        assert all(name is not None for name, _ in keywords)
    except (SyntaxError, ValueError, TypeError, AssertionError) as error:
        raise ConversionError(
            f"cannot write {type(module).__name__} as a constructor call: its extra_repr {text!r} is not "
            f"constructor arguments ({error})",
            where,
        ) from None
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(type(module).__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    arguments = [python_literal(value) for value in positional]
    for name, value in keywords:
        default = defaults.get(name, inspect.Parameter.empty)
        if not (_same_literal(value, default) or (_is_builtin(module) and _expands(default, value))):
            arguments.append(f"{name}={python_literal(value)}")
    return arguments


def _expands(default: Any, value: Any) -> bool:
    """Whether torch expands an int ``default`` into the tuple ``value`` (``stride=1`` is ``stride=(1, 1)``)."""
    return type(default) is int and isinstance(value, tuple) and all(_same_literal(item, default) for item in value)


def _qualified_class(module: torch.nn.Module) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_graph(module: torch.nn.Module) -> bool:
    return _qualified_class(module) == _GRAPH_CLASS


def _is_runtime(module: torch.nn.Module) -> bool:
    return type(module).__module__.startswith(_RUNTIME_PACKAGE + ".")


def _is_builtin(module: torch.nn.Module) -> bool:
    cls = type(module)
    return cls.__module__.startswith("torch.nn.modules.") and getattr(torch.nn, cls.__name__, None) is cls


#: One argument of a generated call: the lines of its expression and a comment for its first line.
_Argument = tuple[list[str], str | None]


@dataclass
class _Writer:
    """The state of one generation: names, hoisted shared modules, runtime and graph classes met so far."""

    lua_paths: dict[str, str]
    uses: Counter[int]
    shared_names: dict[int, str] = field(default_factory=dict)
    shared_lines: list[str] = field(default_factory=list)
    runtime_classes: dict[str, type] = field(default_factory=dict)
    graph_classes: dict[str, str] = field(default_factory=dict)  # forward source -> class name
    graph_sources: list[str] = field(default_factory=list)
    unexportable: dict[str, list[str]] = field(default_factory=dict)

    def where(self, name: str) -> str:
        return self.lua_paths.get(name, ROOT_PATH)

    def class_name(self, module: torch.nn.Module, name: str) -> str:
        """How generated code names the class of ``module`` (recording the runtime classes to copy)."""
        if _is_builtin(module):
            return f"nn.{type(module).__name__}"
        if _is_runtime(module) and not _is_graph(module):
            for cls in reversed(type(module).__mro__):  # runtime base classes first: they are copied too
                if cls.__module__.startswith(_RUNTIME_PACKAGE + "."):
                    self.runtime_classes.setdefault(cls.__name__, cls)
            return type(module).__name__
        self.unexportable.setdefault(_qualified_class(module), []).append(self.where(name))
        return type(module).__name__

    def expression(self, module: torch.nn.Module, name: str, space: int, extra: int) -> list[str]:
        """Lines of the expression building ``module`` (named ``name`` in the model), its first line starting where
        ``space`` characters are left and sharing them with ``extra`` others; a shared module is built once, into a
        local variable before the model, and named wherever it occurs."""
        if self.uses[id(module)] == 1:
            return _call(*self.call(module, name, space), space, extra)
        if id(module) not in self.shared_names:
            variable = "shared_" + name.replace(".", "_")
            lines = _call(*self.call(module, name, INIT_SPACE), INIT_SPACE, len(variable) + 3)
            self.shared_lines += [f"{variable} = {lines[0]}", *lines[1:]]
            self.shared_names[id(module)] = variable
        return [self.shared_names[id(module)]]

    def call(self, module: torch.nn.Module, name: str, space: int) -> tuple[str, list[_Argument]]:
        """The class and the arguments that build ``module``: its children first (positional, or a dict of a
        graph's node modules), then its settings."""
        inner = space - len(_INDENT)
        if _is_graph(module):
            return self.graph_class(module, name), [(self.child_dict(module, name, inner), None)]
        arguments = [self.child(child, child_name, name, inner) for child_name, child in module._modules.items()]
        settings = _constructor_arguments(module, self.where(name))
        return self.class_name(module, name), arguments + [([setting], None) for setting in settings]

    def child(self, child: torch.nn.Module, child_name: str, parent: str, space: int, prefix: str = "") -> _Argument:
        """Child ``child_name`` of ``parent`` as an argument line (after ``prefix``), commented with its name."""
        qualified = f"{parent}.{child_name}" if parent else child_name
        comment = _safe_text(qualified)
        lines = self.expression(child, qualified, space, len(prefix) + len(",  # ") + len(comment))
        return [prefix + lines[0], *lines[1:]], comment

    def child_dict(self, graph: torch.nn.Module, name: str, space: int) -> list[str]:
        """A ``{"0": module, ...}`` literal of a graph's node modules, one per line."""
        lines = ["{"]
        entries = space - len(_INDENT)
        for child_name, child in graph._modules.items():
            built, comment = self.child(child, child_name, name, entries, f"{python_literal(child_name)}: ")
            lines += _argument_lines(built, None if name == "" else comment)
        return [*lines, "}"]

    def graph_class(self, graph: torch.nn.Module, name: str) -> str:
        """The name of the ``nn.ModuleDict`` subclass running a nested ``graph``'s nodes (one per distinct graph)."""
        body = graph_forward(graph)
        if body not in self.graph_classes:
            class_name = f"GModule{len(self.graph_classes) + 1}"
            self.graph_classes[body] = class_name
            self.graph_sources.append(
                f"class {class_name}(nn.ModuleDict):\n{_graph_docstring(self.where(name))}\n\n{body}"
            )
        return self.graph_classes[body]


def _graph_docstring(lua_path: str) -> str:
    return (
        f'{_INDENT}"""An nngraph gModule (first at ``{_safe_text(lua_path)}``): child ``"i"`` is the module of '
        f"gModule.modules[i + 1];\n{_INDENT}forward runs the graph's nodes in Lua's order (forwardnodes), one line "
        'per node."""'
    )


def _argument_lines(lines: list[str], comment: str | None) -> list[str]:
    """An argument inside a multi-line call: indented, a comma after it, the comment on its first line."""
    suffix = f"  # {comment}" if comment else ""
    if len(lines) == 1:
        return [f"{_INDENT}{lines[0]},{suffix}"]
    return [f"{_INDENT}{lines[0]}{suffix}", *[_INDENT + line for line in lines[1:-1]], f"{_INDENT}{lines[-1]},"]


def _call(head: str, arguments: list[_Argument], space: int, extra: int) -> list[str]:
    """``head(arguments...)``: on one line when the arguments are settings that fit in ``space`` (less ``extra``
    characters on the same line), else one argument per line (a trailing comma keeps formatters from joining them)."""
    if all(len(lines) == 1 and comment is None for lines, comment in arguments):
        line = f"{head}({', '.join(lines[0] for lines, _ in arguments)})"
        if len(line) + extra <= space:
            return [line]
    lines = [f"{head}("]
    for argument_lines, comment in arguments:
        lines += _argument_lines(argument_lines, comment)
    return [*lines, ")"]


def graph_forward(graph: torch.nn.Module) -> str:
    """The ``forward`` of a ``lua_nn.Graph`` written out: one line per node, in Lua's evaluation order.

    A node without a module passes its input on (one input) or the list of
    them (several); a split output (``select``) takes entry ``select`` of its
    input's table; the input node is the forward's input.
    """
    names: dict[int, str] = {}
    lines = [f"{_INDENT}def forward(self, input):"]
    if graph.num_inputs > 1:
        lines.append(f"{_INDENT * 2}if len(input) != {graph.num_inputs}:")
        lines.append(
            f'{_INDENT * 3}raise ValueError(f"expected a table of {graph.num_inputs} inputs, got {{len(input)}}")'
        )
    for position, (module, inputs, select) in enumerate(graph.nodes):
        arguments = [names[item] for item in inputs]
        value = arguments[0] if len(arguments) == 1 else f"[{', '.join(arguments)}]"
        if position == graph.input_node:
            names[position] = "input"
            continue
        if select:
            expression = f"{arguments[0]}[{select - 1}]"
        elif module >= 0:
            expression = f"self[{python_literal(str(module))}]({value})"
        elif len(arguments) == 1:
            names[position] = arguments[0]  # a node that passes its one input on
            continue
        else:
            expression = value
        names[position] = f"x{position}"
        lines.append(f"{_INDENT * 2}x{position} = {expression}")
    lines.append(f"{_INDENT * 2}return {names[graph.output_node]}")
    return "\n".join(lines) + "\n"


def _use_counts(module: torch.nn.Module) -> Counter[int]:
    """How many times each module occurs in the tree (more than once: shared, as Lua shares it)."""
    counts: Counter[int] = Counter()
    pending = [module]
    while pending:
        current = pending.pop()
        counts[id(current)] += 1
        if counts[id(current)] == 1:
            pending.extend(current._modules.values())
    return counts


@dataclass(frozen=True)
class SourceInfo:
    """What model.py's docstring says of where it came from."""

    name: str = "a Torch7 checkpoint"
    sha256: str | None = None
    weights_file: str = "model.safetensors"


def model_source(translation: Translation, info: SourceInfo | None = None) -> str:
    """The text of a standalone ``model.py`` rebuilding ``translation.module`` (see the module docstring).

    ``info`` names the source checkpoint in the docstring and the weights file
    ``load()`` reads by default. Raises :class:`ConversionError` listing every
    module (with its Lua path) whose class model.py cannot build: a class
    neither in ``torch.nn`` nor in :mod:`converters.lua_nn` (e.g. one a
    user-registered translator returned).
    """
    info = info or SourceInfo()
    root = translation.module
    writer = _Writer(translation.report.lua_paths, _use_counts(root))
    if _is_graph(root):
        base, arguments = "nn.ModuleDict", [(writer.child_dict(root, "", INIT_SPACE - len(_INDENT)), None)]
    else:
        base, arguments = writer.call(root, "", INIT_SPACE)
    if writer.unexportable:
        listed = "; ".join(f"{name} at {', '.join(paths[:3])}" for name, paths in writer.unexportable.items())
        raise ConversionError(
            f"model.py can build torch.nn classes and the converters.lua_nn runtime classes, not: {listed}. "
            "Use load_module (or --format onnx) for this model"
        )
    sections = [_header(translation, info) + "\n\n" + _imports(writer.runtime_classes.values())]
    sections += [inspect.getsource(cls) for cls in writer.runtime_classes.values()]
    sections += writer.graph_sources
    call = _call("super().__init__", arguments, INIT_SPACE, 0)
    sections.append(_model_class(translation, base, writer.shared_lines, call))
    sections.append(_loader(translation, info))
    return "\n\n\n".join(section.strip("\n") for section in sections) + "\n"


def _header(translation: Translation, info: SourceInfo) -> str:
    report = translation.report
    dtypes = sorted({str(source.dtype).removeprefix("torch.") for source in translation.sources.values()})
    mode = "training" if translation.module.training else "evaluation"
    root_class = _safe_text(report.lua_classes.get("", "A Torch7 module"))
    lines = [
        f'"""{root_class} from {_safe_text(info.name)}, as PyTorch code.',
        "",
        f"{report.num_parameters:,} parameters ({', '.join(dtypes) or 'no tensors'}); saved by Lua in {mode} mode.",
    ]
    if info.sha256:
        lines.append(f"Source sha256: {info.sha256}.")
    lines += [
        "Written by densenet-zoo (converters.codegen) to import only torch and the standard library:",
        "",
        "    import model",
        f"    net = model.load()  # the weights of {_safe_text(info.weights_file)} next to this file",
        "    output = net(input)  # a table input is a list: net([a, b])",
        "",
        "Names follow the Lua tree: child i of a container is Lua's modules[i + 1], so",
        'net.get_submodule("4.0") is what Lua prints as model.modules[5].modules[1]; fields holding modules',
        "keep their Lua name (net1, net2). The classes defined below (not torch's nn.*) compute what a Lua",
        "class computes where no torch builtin does exactly; each docstring names the Lua class it mirrors.",
        '"""',
    ]
    return "\n".join(lines)


def _imports(runtime_classes: Any) -> str:
    used = set()
    for cls in runtime_classes:
        tree = ast.parse(inspect.getsource(cls))
        used |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    lines = ["from __future__ import annotations", "", "import json", "import math", "import struct"]
    lines += ["from pathlib import Path", "", "import torch"]
    if "F" in used:
        lines.append("import torch.nn.functional as F")
    lines.append("from torch import nn")
    return "\n".join(lines)


def _model_class(translation: Translation, base: str, shared_lines: list[str], call: list[str]) -> str:
    """``class Model(<root's class>)`` whose ``__init__`` builds the tree (and ``forward`` runs a root graph)."""
    root = translation.module
    lua_class = _safe_text(translation.report.lua_classes.get("", "module"))
    lines = [
        f"class Model({base}):",
        f'{_INDENT}"""The Lua {lua_class} ``{ROOT_PATH}``, its children named as in Lua (see the module docstring)."""',
        "",
        f"{_INDENT}def __init__(self) -> None:",
        *[_INDENT * 2 + line for line in [*shared_lines, *call]],
    ]
    if _is_graph(root):
        lines += ["", graph_forward(root)]
    return "\n".join(lines)


def _mode_exceptions(module: torch.nn.Module) -> dict[str, bool]:
    """Modules whose own Lua ``train`` flag differs from the root's (name -> training)."""
    return {
        name: submodule.training
        for name, submodule in module.named_modules(remove_duplicate=False)
        if submodule.training != module.training
    }


def _aliases(translation: Translation) -> dict[str, str]:
    """State-dict names whose tensor is stored once under another name (a module shared in Lua)."""
    first: dict[int, str] = {}
    aliases = {}
    for name, source in translation.sources.items():
        if id(source) in first:
            aliases[name] = first[id(source)]
        else:
            first[id(source)] = name
    return aliases


#: The weights reader of model.py (torch + the standard library).
_READER = """
#: safetensors dtype codes -> torch dtypes.
SAFETENSORS_DTYPES = {
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F32": torch.float32,
    "F64": torch.float64,
    "I64": torch.int64,
}


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    \"\"\"The tensors of a .safetensors file, read with torch and the standard library only.

    The format: an 8-byte little-endian header size, a JSON header giving each tensor's dtype, shape and
    byte range, then the data. The file is read once; the tensors share that one buffer.
    \"\"\"
    with open(path, "rb") as file:
        (header_size,) = struct.unpack("<Q", file.read(8))
        data = bytearray(Path(path).stat().st_size - 8)
        file.readinto(data)
    if header_size > len(data):
        raise ValueError(f"{path}: a header of {header_size} bytes does not fit in a file of {len(data) + 8}")
    tensors = {}
    for name, entry in json.loads(data[:header_size]).items():
        if name == "__metadata__":
            continue
        dtype, shape = SAFETENSORS_DTYPES[entry["dtype"]], entry["shape"]
        start, end = (header_size + offset for offset in entry["data_offsets"])
        count = math.prod(shape)
        if not header_size <= start <= end <= len(data) or end - start != count * dtype.itemsize:
            raise ValueError(f"{path}: {name} of shape {shape} does not fit its bytes {entry['data_offsets']}")
        if count == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(shape)
    return tensors
"""

#: model.py's load(); {placeholders} are filled in per model.
_LOAD = """
def load(path: str | Path = WEIGHTS) -> Model:
    \"\"\"The network with the weights of ``path``, in the mode Lua saved it in ({mode}).

    ``.eval()`` and ``.train()`` then act as Lua's ``evaluate()`` and ``training()``; tensors keep their
    stored dtype.
    \"\"\"
    with torch.device("meta"):
        model = Model()  # no memory is allocated before the weights are assigned
    tensors = read_safetensors(path){aliases}
    model.load_state_dict(tensors, strict=True, assign=True)
    model.train({training}){exceptions}
    return model
"""


def _loader(translation: Translation, info: SourceInfo) -> str:
    """``WEIGHTS``, ``load()`` and the safetensors reader, with the model's shared tensors and modes."""
    root = translation.module
    lines = [f"WEIGHTS = Path(__file__).with_name({python_literal(info.weights_file)})"]
    aliases, exceptions = _aliases(translation), _mode_exceptions(root)
    if aliases:
        lines += ["", "#: Tensors of a module Lua shares, stored once: name -> the name they are stored under."]
        lines.append(f"SHARED_TENSORS = {python_literal(aliases)}")
    if exceptions:
        lines += ["", "#: Modules whose own Lua `train` flag differs from the model's: name -> training."]
        lines.append(f"MODE_EXCEPTIONS = {python_literal(exceptions)}")
    load = _LOAD.format(
        mode="training" if root.training else "evaluation",
        training=root.training,
        aliases="\n    for name, stored in SHARED_TENSORS.items():\n        tensors[name] = tensors[stored]"
        if aliases
        else "",
        exceptions="\n    for name, training in MODE_EXCEPTIONS.items():\n"
        "        model.get_submodule(name).training = training"
        if exceptions
        else "",
    )
    return "\n".join(lines) + "\n\n" + load + "\n" + _READER


def check_model_source(source: str, translation: Translation) -> None:
    """Execute the generated ``source`` on the ``meta`` device and check it rebuilds ``translation.module``.

    Names, classes, public settings, sharing and tensor shapes must all be the
    same; a difference is a :class:`ConversionError` naming the module's Lua path.
    """
    namespace: dict[str, Any] = {"__name__": "densenet_zoo_model_check", "__file__": "model.py"}
    exec(compile(source, "model.py", "exec"), namespace)
    with torch.device("meta"):
        rebuilt = namespace["Model"]()
    original = translation.module
    expected = dict(original.named_modules(remove_duplicate=False))
    found = dict(rebuilt.named_modules(remove_duplicate=False))
    if list(expected) != list(found):
        missing = sorted(set(expected) ^ set(found))[:5]
        raise ConversionError(f"model.py does not rebuild the module tree: names {missing} differ")
    for name, module in expected.items():
        problem = _module_difference(module, found[name], is_root=name == "")
        if problem:
            where = translation.report.lua_paths.get(name, ROOT_PATH)
            raise ConversionError(f"model.py does not rebuild {name or 'the root'} exactly: {problem}", where)
    if _sharing(original) != _sharing(rebuilt):
        raise ConversionError("model.py does not share the modules Lua shares")


def _module_difference(original: torch.nn.Module, rebuilt: torch.nn.Module, is_root: bool) -> str | None:
    """What differs between a translated module and its rebuilt counterpart (None: nothing)."""
    if _is_graph(original):
        return None if isinstance(rebuilt, torch.nn.ModuleDict) else f"a {type(rebuilt).__name__} is no graph"
    rebuilt_class = type(rebuilt).__bases__[0] if is_root else type(rebuilt)
    if rebuilt_class.__name__ != type(original).__name__:
        return f"{rebuilt_class.__name__} instead of {type(original).__name__}"
    settings = {key: value for key, value in vars(original).items() if not key.startswith("_") and key != "training"}
    for key, value in settings.items():
        if not _same_setting(value, getattr(rebuilt, key, None)):
            return f"{key} is {getattr(rebuilt, key, None)!r} instead of {value!r}"
    for kind in ("_parameters", "_buffers"):
        mine = {key: None if t is None else tuple(t.shape) for key, t in getattr(original, kind).items()}
        theirs = {key: None if t is None else tuple(t.shape) for key, t in getattr(rebuilt, kind).items()}
        if mine != theirs:
            return f"{kind[1:]} {theirs} instead of {mine}"
    return None


def _same_setting(first: Any, second: Any) -> bool:
    if isinstance(first, torch.Tensor) or isinstance(second, torch.Tensor):
        return isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor) and first.shape == second.shape
    if isinstance(first, float) and isinstance(second, float) and math.isnan(first):
        return math.isnan(second)
    return first == second and type(first) is type(second)


def _sharing(module: torch.nn.Module) -> list[list[str]]:
    groups: dict[int, list[str]] = {}
    for name, submodule in module.named_modules(remove_duplicate=False):
        groups.setdefault(id(submodule), []).append(name)
    return sorted(names for names in groups.values() if len(names) > 1)

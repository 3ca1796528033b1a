"""Mutation fuzzing of the conversion and weights-loading paths with hostile inputs (issue 9).

Two targets:

* ``t7``: genuine Lua checkpoints (``torch7/densenet/tiny_std.t7``, ``tiny_custom.t7``,
  ``torch7/cifar/*.t7``) and synthetic ones made with ``converters.synthetic.densenet`` are mutated at
  the object level (numeric fields, tensor sizes, strides, offsets, storage types and values,
  class names, field types, module lists), written with ``t7.dumps`` and converted from the file
  (``convert_file`` streaming to safetensors, or ``convert``).
* ``weights``: ``.safetensors`` and ``.pth`` files written by the project (and by torch.save) are
  mutated in their header JSON, metadata config, dtypes, shapes, offsets, pickles, tensor views,
  and bytes (truncation, flips), and loaded with ``zoo.load_weights``.

Every case must end in a project exception (``T7Error``, ``ConversionError``, ``RegistryError``) or
a correct result: a conversion whose model reproduces the independent float64 Lua interpreter
(``lua_reference.py``) on the mutated tree, or a loaded model holding exactly the file's tensors.
A case may also leave nothing behind (no ``.partial`` file), must not run code from a pickle, and
must not advise ``weights_only=False``. Time is bounded per case (SIGALRM) and memory for the whole
run (RLIMIT_AS: a runaway allocation fails instead of exhausting the machine).

This is not collected by pytest; ``test_convert_fuzz.py`` runs a few dozen cases of each target in a
child process. A larger campaign, from the project root::

    python tests/convert/fuzz_inputs.py --target t7 --cases 3000 --seed 1
    python tests/convert/fuzz_inputs.py --target weights --cases 3000 --seed 1

It prints a JSON summary (outcome counts, failures with the mutations that caused them) and exits 1
when any case failed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import math
import os
import pickle
import random
import resource
import signal
import struct
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
for _path in (str(PROJECT_ROOT), str(HERE), str(HERE.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from fixtures import fixtures_root  # noqa: E402
from lua_reference import lua_forward  # noqa: E402

import zoo  # noqa: E402
from converters import ConversionError, t7  # noqa: E402
from converters.densenet import convert  # noqa: E402
from converters.export import convert_file, save_weights  # noqa: E402
from converters.synthetic.densenet import densenet_checkpoint  # noqa: E402
from converters.t7.typenames import STORAGE_OF_TENSOR, TENSOR_DTYPES  # noqa: E402
from zoo import DenseNet, DenseNetConfig  # noqa: E402
from zoo.models.densenet import state_dict_shapes  # noqa: E402
from zoo.registry import read_weights  # noqa: E402
from zoo.registry.errors import RegistryError  # noqa: E402
from zoo.registry.loading import remap_torchvision_keys  # noqa: E402

#: What a hostile input may end in.
PROJECT_ERRORS = (t7.T7Error, ConversionError, RegistryError)
#: Lua values a numeric (or any) field is replaced with.
HOSTILE_VALUES: list[Any] = [
    0,
    -1,
    1,
    2,
    3,
    7,
    math.inf,
    -math.inf,
    math.nan,
    2**31,
    2**31 - 1,
    2**53,
    2**63,
    -(2**63),
    1.5,
    -0.5,
    1e-300,
    1e300,
    "x",
    "",
    "7",
    True,
    False,
]
#: Sizes, strides and offsets a tensor view is given (all within int64, so the writer can store them).
HOSTILE_EXTENTS = [0, 1, 2, 3, 2**20, 2**31 - 1, 2**31, 2**40, 2**62]
#: Class names a module is given.
CLASS_NAMES = [
    "nn.Sequential",
    "nn.Concat",
    "nn.Identity",
    "nn.ReLU",
    "cudnn.ReLU",
    "nn.SpatialConvolution",
    "cudnn.SpatialConvolution",
    "nn.SpatialConvolutionMM",
    "nn.SpatialBatchNormalization",
    "cudnn.SpatialBatchNormalization",
    "nn.SpatialMaxPooling",
    "nn.SpatialAveragePooling",
    "cudnn.SpatialAveragePooling",
    "nn.Dropout",
    "nn.Linear",
    "nn.Reshape",
    "nn.View",
    "nn.JoinTable",
    "nn.DenseConnectLayerCustom",
    "nn.DataParallelTable",
    "nn.Tanh",
    "torch.FloatTensor",
    "nn.",
    ".ReLU",
    "",
    "nn.ReLU.extra",
    "cunn.Linear",
    "nn.\u00fcber",
    "x" * 300,
]
CASE_SECONDS = 30
MAX_RELATIVE_ERROR = 1e-4
MAX_INPUT_SIZE = 512


@dataclass
class Summary:
    """What a campaign found: outcome counts and the failing cases."""

    target: str
    seed: int
    cases: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    slowest_case_seconds: float = 0.0
    peak_rss_mb: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "seed": self.seed,
            "cases": self.cases,
            "failures": len(self.failures),
            "outcomes": dict(sorted(self.outcomes.items())),
            "seconds": round(self.seconds, 1),
            "slowest_case_seconds": round(self.slowest_case_seconds, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "failed_cases": self.failures[:20],
        }


class CaseTimeout(Exception):
    """A case ran longer than CASE_SECONDS."""


class CaseFailure(Exception):
    """A case ended in something other than a project error or a correct result."""


# -- Torch7 checkpoints ---------------------------------------------------------------------------------
@dataclass
class Seed:
    """A checkpoint to mutate: its bytes and the input size its Lua model was made for."""

    name: str
    data: bytes


def t7_seeds() -> list[Seed]:
    """Genuine fixtures (when present) and synthetic checkpoints of both layouts and several tensor types."""
    seeds = []
    root = fixtures_root() / "torch7"
    for path in [
        root / "densenet" / "tiny_std.t7",
        root / "densenet" / "tiny_custom.t7",
        *sorted((root / "cifar").glob("*.t7")),
    ]:
        if path.is_file():
            seeds.append(Seed(path.name, path.read_bytes()))
    small = DenseNetConfig(growth_rate=4, block_config=(2, 1), num_init_features=8, num_classes=5)
    for name, config, layout, tensor_type in (
        ("standard", small, "standard", "torch.FloatTensor"),
        ("custom", small, "custom", "torch.FloatTensor"),
        ("double_dropout", small.replace(drop_rate=0.2), "standard", "torch.DoubleTensor"),
        ("cuda_cifar", small.replace(stem="cifar", block_config=(1, 1, 1)), "custom", "torch.CudaTensor"),
    ):
        seeds.append(Seed(f"synthetic_{name}", t7.dumps(densenet_checkpoint(config, layout, 0, tensor_type))))
    return seeds


def _modules(tree: Any) -> list[t7.T7Object]:
    return [value for value in t7.iter_tree(tree) if isinstance(value, t7.T7Object) and isinstance(value.fields, dict)]


def _tensors(tree: Any) -> list[t7.T7Tensor]:
    """Tensors with a storage, the fields the converter reads first (weights, statistics, biases)."""
    tensors = [value for value in t7.iter_tree(tree) if isinstance(value, t7.T7Tensor) and value.storage is not None]
    used = {"weight", "bias", "running_mean", "running_var", "running_std"}
    read = {
        id(value)
        for module in _modules(tree)
        for key, value in module.fields.items()
        if key in used and isinstance(value, t7.T7Tensor)
    }
    return [tensor for tensor in tensors if id(tensor) in read] or tensors


#: Fields the converter reads, mutated more often than the others.
READ_FIELDS = [
    "kW", "kH", "dW", "dH", "padW", "padH", "nInputPlane", "nOutputPlane", "groups", "eps", "p", "v2",
    "ceil_mode", "divide", "affine", "threshold", "val", "dimension", "nInputDims", "nelement", "size",
]  # fmt: skip


def _pick_field(rng: random.Random, module: t7.T7Object) -> Any:
    read = [key for key in READ_FIELDS if key in module.fields]
    if read and rng.random() < 0.7:
        return rng.choice(read)
    return rng.choice([*READ_FIELDS, *module.fields])


def mutate_number(rng: random.Random, tree: Any) -> str:
    module = rng.choice(_modules(tree))
    key = _pick_field(rng, module)
    choice = rng.randrange(len(HOSTILE_VALUES) + 3)
    if choice == len(HOSTILE_VALUES):
        module.fields.pop(key, None)
        return f"{module.typename}.{key} deleted"
    if choice == len(HOSTILE_VALUES) + 1:
        value: Any = t7.T7Table({1: rng.choice([2, 3, "x"])})
    elif choice == len(HOSTILE_VALUES) + 2:
        value = t7.T7Table()
    else:
        value = HOSTILE_VALUES[choice]
    module.fields[key] = value
    return f"{module.typename}.{key} = {value!r}"


def mutate_view(rng: random.Random, tree: Any) -> str:
    tensor = rng.choice(_tensors(tree))
    what = rng.choice(["size", "stride", "offset", "ndim", "swap"])
    size, stride = list(tensor.size), list(tensor.stride)
    if what == "offset" or not size:
        tensor.storage_offset = rng.choice([-1, 1, tensor.storage.size - 1, tensor.storage.size, *HOSTILE_EXTENTS])
        return f"{tensor.typename} offset -> {tensor.storage_offset}"
    dim = rng.randrange(len(size))
    if what == "size":
        size[dim] = rng.choice([size[dim] + 1, size[dim] - 1, size[dim] * 2, *HOSTILE_EXTENTS])
    elif what == "stride":
        stride[dim] = rng.choice([stride[dim] + 1, stride[dim] * 2, -1, *HOSTILE_EXTENTS])
    elif what == "ndim":
        if rng.random() < 0.5 and len(size) > 1:
            del size[dim], stride[dim]
        else:
            size.insert(dim, rng.choice([1, 2, 2**20]))
            stride.insert(dim, rng.choice([0, 1, stride[dim]]))
    else:  # a transposed view: valid when the new order still fits
        other = rng.randrange(len(size))
        size[dim], size[other] = size[other], size[dim]
        stride[dim], stride[other] = stride[other], stride[dim]
    tensor.size, tensor.stride = tuple(size), tuple(stride)
    return f"{tensor.typename} {what} -> size {tensor.size} stride {tensor.stride}"


def mutate_amplify(rng: random.Random, tree: Any) -> str:
    """The attack of issue 9: many elements over one stored element (stride 0), or over a few (overlap)."""
    tensor = rng.choice(_tensors(tree))
    if not tensor.size:
        return "empty tensor"
    size, stride = list(tensor.size), list(tensor.stride)
    dim = rng.randrange(len(size))
    size[dim] = rng.choice([size[dim] * 4, 2**16, 2**20, 2**26, 2**31, 2**40])
    stride[dim] = rng.choice([0, 0, 1])
    tensor.size, tensor.stride = tuple(size), tuple(stride)
    return f"{tensor.typename} amplified to size {tensor.size} stride {tensor.stride}"


def mutate_classifier_rows(rng: random.Random, tree: Any) -> str:
    """The crafted file of issue 9, item 1: a classifier of N repeated rows (all sizes stay consistent)."""
    linears = [m for m in _modules(tree) if m.typename.endswith("Linear") and isinstance(m.get("weight"), t7.T7Tensor)]
    if not linears:
        return "no nn.Linear"
    linear = rng.choice(linears)
    weight, bias = linear["weight"], linear.get("bias")
    rows = rng.choice([2**10, 2**16, 2**20, 2**24, 2**40 // max(weight.size[-1], 1)])
    weight.size, weight.stride = (rows, weight.size[-1]), rng.choice([(0, 1), (0, 0), (1, 0)])
    if isinstance(bias, t7.T7Tensor):
        bias.size, bias.stride = (rows,), (0,)
    return f"{linear.typename} of {rows} repeated rows, weight stride {weight.stride}"


def mutate_storage(rng: random.Random, tree: Any) -> str:
    tensors = _tensors(tree)
    tensor = rng.choice(tensors)
    what = rng.choice(["alias", "values", "type"])
    if what == "alias":
        other = rng.choice(tensors)
        tensor.storage, tensor.storage_offset = other.storage, other.storage_offset + rng.choice([0, 0, 1])
        return f"{tensor.typename} {tensor.size} aliases {other.typename} {other.size}"
    values = np.array(tensor.storage.numpy(), copy=True)
    sharing = [other for other in tensors if other.storage is tensor.storage]
    if what == "values" and values.dtype.kind == "f" and values.size:
        index = rng.randrange(values.size)
        values[index] = rng.choice([np.nan, np.inf, -np.inf, 1e38, -0.0, 1e-45])
        storage = t7.T7Storage.from_numpy(values, tensor.storage.typename)
        for other in sharing:
            other.storage = storage
        return f"{tensor.typename} storage[{index}] = {values[index]}"
    typename = rng.choice(sorted(TENSOR_DTYPES))
    storage = t7.T7Storage.from_numpy(values.astype(TENSOR_DTYPES[typename]), STORAGE_OF_TENSOR[typename])
    for other in sharing:
        other.storage, other.typename = storage, typename
    return f"tensors of one storage -> {typename}"


def mutate_class(rng: random.Random, tree: Any) -> str:
    modules = _modules(tree)
    module = rng.choice(modules)
    old = module.typename
    module.typename = rng.choice([*CLASS_NAMES, rng.choice(modules).typename])
    return f"{old} -> {module.typename!r}"


def mutate_field_type(rng: random.Random, tree: Any) -> str:
    modules = _modules(tree)
    module = rng.choice(modules)
    key = rng.choice(["weight", "bias", "running_mean", "running_var", "modules", "net1", "net2", "size", "train"])
    tensors = _tensors(tree)
    value = rng.choice(
        [
            None,
            7,
            "weight",
            t7.T7Table(),
            rng.choice(modules),
            rng.choice(tensors),
            rng.choice(tensors).storage,
            t7.T7Tensor(rng.choice(tensors).typename, (), (), 0, None),
            module,
        ]
    )
    if value is None:
        module.fields.pop(key, None)
    else:
        module.fields[key] = value
    return f"{module.typename}.{key} = {type(value).__name__}"


def mutate_modules(rng: random.Random, tree: Any) -> str:
    containers = [m for m in _modules(tree) if isinstance(m.get("modules"), t7.T7Table) and m["modules"].is_list()]
    if not containers:
        return "no container"
    container = rng.choice(containers)
    children = container["modules"].as_list()
    what = rng.choice(["remove", "duplicate", "swap", "insert", "not a list", "self"])
    if what == "remove" and children:
        del children[rng.randrange(len(children))]
    elif what == "duplicate" and children:
        index = rng.randrange(len(children))
        children.insert(index, children[index])
    elif what == "swap" and len(children) > 1:
        first, second = rng.sample(range(len(children)), 2)
        children[first], children[second] = children[second], children[first]
    elif what == "insert":
        children.insert(rng.randrange(len(children) + 1), rng.choice(_modules(tree)))
    elif what == "self":
        children.append(container)
    table = t7.T7Table({index + 1: child for index, child in enumerate(children)})
    if what == "not a list":
        table["n"] = len(children)
    container.fields["modules"] = table
    return f"{container.typename}.modules {what}"


def mutate_version(rng: random.Random, tree: Any) -> str:
    module = rng.choice(_modules(tree))
    module.version = rng.choice([0, 1, 2, 3, -1, 2**31 - 1])
    return f"{module.typename} version {module.version}"


T7_MUTATIONS: list[Callable[[random.Random, Any], str]] = [
    mutate_number,
    mutate_number,
    mutate_view,
    mutate_view,
    mutate_amplify,
    mutate_classifier_rows,
    mutate_storage,
    mutate_class,
    mutate_field_type,
    mutate_modules,
    mutate_version,
]


def _input_size(config: DenseNetConfig, final_pool: int) -> int:
    """The input side at which the Lua model's final pooling sees the whole feature map."""
    size = final_pool << (len(config.block_config) - 1)
    return size * 4 if config.stem == "imagenet" else size


def check_t7_case(rng: random.Random, seed: Seed, work: Path, index: int, mutations: list[str]) -> str:
    """Mutate ``seed`` (saying how in ``mutations``), convert it from a file; the outcome (or CaseFailure)."""
    tree = t7.loads(seed.data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        try:
            mutations.append(rng.choice(T7_MUTATIONS)(rng, tree))
        except IndexError:  # an earlier mutation left nothing of that kind
            mutations.append("nothing left to mutate")
    try:
        data = t7.dumps(tree)
    except (t7.T7WriteError, RecursionError, struct.error, OverflowError) as error:
        return f"unwritable:{type(error).__name__}"
    source = work / f"case{index}.t7"
    source.write_bytes(data)
    output = work / f"case{index}.safetensors"
    streamed = index % 2 == 0
    try:
        if streamed:
            _, plan = convert_file(source, output, force=True)
            state_dict, config = read_weights(output)
            report = plan.report
        else:
            conversion = convert(source)
            state_dict, config, report = conversion.state_dict, conversion.config, conversion.report
    except PROJECT_ERRORS as error:
        _check_nothing_left(work, source)
        return f"refused:{type(error).__name__}"
    if streamed:
        output.unlink()
    _check_nothing_left(work, source)
    return _verify_against_lua(t7.loads(data), state_dict, config, report.final_pool_size)


def _check_nothing_left(work: Path, source: Path) -> None:
    left = sorted(path.name for path in work.iterdir() if path != source)
    source.unlink()
    if left:
        for path in work.iterdir():
            path.unlink()
        raise CaseFailure(f"files left behind: {left}")


def _verify_against_lua(tree: Any, state_dict: dict, config: DenseNetConfig, final_pool: int) -> str:
    """'converted' when the converted model computes what the Lua reference computes on the mutated tree."""
    model = DenseNet(config, init_weights=False)
    model.load_state_dict(state_dict, strict=True, assign=True)
    size = _input_size(config, final_pool)
    if size > MAX_INPUT_SIZE:
        return "converted:unverified-input-size"
    images = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        actual = model.eval()(images).double()
    try:
        expected = lua_forward(tree, images.double())
    except (KeyError, NotImplementedError, TypeError, IndexError, RuntimeError) as error:
        return f"converted:unverified-reference-{type(error).__name__}"
    if actual.shape != expected.shape:
        raise CaseFailure(f"output shape {tuple(actual.shape)} but Lua computes {tuple(expected.shape)}")
    same_gaps = torch.equal(torch.isfinite(actual), torch.isfinite(expected))
    finite = torch.isfinite(expected)
    scale = expected[finite].abs().max() if finite.any() else torch.tensor(1.0)
    error = (actual[finite] - expected[finite]).abs().max() / scale if finite.any() else torch.tensor(0.0)
    if same_gaps and float(error) <= MAX_RELATIVE_ERROR:
        return "converted:matches-lua"
    if _extreme_weights(tree):  # float32 cannot compute what float64 Lua does with such weights
        return "converted:unverified-extreme-weights"
    raise CaseFailure(f"converted model differs from the Lua reference (relative error {float(error):.3g})")


def _extreme_weights(tree: Any) -> bool:
    """True when a stored floating value is NaN, infinite or beyond 1e30 (float32 overflows where float64 does not)."""
    for storage in t7.iter_tree(tree):
        if isinstance(storage, t7.T7Storage) and storage.dtype.kind == "f" and storage.size:
            values = storage.numpy()
            if not np.all(np.isfinite(values)) or np.abs(values).max() > 1e30:
                return True
    return False


# -- converted weights -------------------------------------------------------------------------------------
def weights_seeds(work: Path) -> list[Seed]:
    """Files the project writes (safetensors with and without config metadata) and torch.save files."""
    from safetensors.torch import save_file

    seeds = []
    for name, config in (
        ("imagenet", DenseNetConfig(growth_rate=4, block_config=(1, 2), num_init_features=8, num_classes=5)),
        ("cifar", DenseNetConfig(growth_rate=4, block_config=(1, 1, 1), num_init_features=8, stem="cifar")),
    ):
        torch.manual_seed(0)
        state_dict = DenseNet(config).state_dict()
        path = work / "seed.bin"
        save_weights(state_dict, config, path, format="safetensors", force=True)
        seeds.append(Seed(f"{name}.safetensors", path.read_bytes()))
        save_file({key: value.contiguous() for key, value in state_dict.items()}, str(path))
        seeds.append(Seed(f"{name}_no_metadata.safetensors", path.read_bytes()))
        torch.save(state_dict, path)
        seeds.append(Seed(f"{name}.pth", path.read_bytes()))
        torch.save({"state_dict": state_dict}, path, _use_new_zipfile_serialization=False)
        seeds.append(Seed(f"{name}_legacy.pth", path.read_bytes()))
    path.unlink()
    return seeds


def _split_safetensors(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def _join_safetensors(header: Any, body: bytes) -> bytes:
    encoded = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(encoded)) + encoded + body


HOSTILE_JSON: list[Any] = [0, -1, 1.5, 2**31, 2**63, 1e308, "32", "", None, True, [], {}, [20000], [1] * 17, [1.5]]


def mutate_safetensors(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    header, body = _split_safetensors(data)
    keys = [key for key in header if key != "__metadata__"]
    what = rng.choice(["dtype", "shape", "offsets", "remove", "rename", "config", "config_text", "metadata"])
    key = rng.choice(keys)
    entry = header[key]
    if what == "dtype":
        entry["dtype"] = rng.choice(["F64", "F16", "BF16", "I64", "I32", "I8", "U8", "BOOL", "F8_E4M3", "C64", "X", 5])
    elif what == "shape":
        shape = list(entry["shape"])
        if shape and rng.random() < 0.7:
            shape[rng.randrange(len(shape))] = rng.choice([0, -1, 2, 1.5, "x", 2**40, 2**64, *shape])
        else:
            shape.append(rng.choice([1, 2, 0]))
        entry["shape"] = shape
    elif what == "offsets":
        start, end = entry["data_offsets"]
        entry["data_offsets"] = rng.choice([[end, start], [0, end], [start, start], [start, 2**62], [start], "x"])
    elif what == "remove":
        del header[key]
    elif what == "rename":
        header[rng.choice(["", "x" * 2000, "features.denseblock9.denselayer1.conv2.weight", "\u00fc"])] = header.pop(
            key
        )
    else:
        metadata = header.setdefault("__metadata__", {})
        if what == "metadata":
            header["__metadata__"] = rng.choice([{"config": 5}, [], "x", {"a": "b"}, {}])
        elif what == "config_text":
            text = metadata.get("config", "{}")
            metadata["config"] = rng.choice([text[: rng.randrange(len(text) + 1)], "[" * 50_000, "NaN", "{}", "[]"])
        else:
            config = json.loads(metadata.get("config", "{}"))
            config[rng.choice([*DenseNetConfig().to_dict(), "depth"])] = rng.choice(HOSTILE_JSON)
            metadata["config"] = json.dumps(config)
    return _join_safetensors(header, body), f"safetensors {what} of {key[:60]!r}"


def _rezip(data: bytes, change: Callable[[str, bytes], bytes | None]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as target:
        for name in source.namelist():
            content = change(name, source.read(name))
            if content is not None:
                target.writestr(name, content)
    return archive.getvalue()


class _RunsCode:
    """Unpickling this creates a directory: a pickle that executes code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.marker,))


def mutate_pth(rng: random.Random, data: bytes, marker: Path) -> tuple[bytes, str]:
    loaded = torch.load(io.BytesIO(data), weights_only=True)
    state_dict = loaded.get("state_dict", loaded)
    keys = list(state_dict)
    key = rng.choice(keys)
    tensor = state_dict[key]
    what = rng.choice(["view", "dtype", "value", "key", "pickle", "record", "code"])
    if what == "view":
        shape = tuple(tensor.shape) or (1,)
        state_dict[key] = rng.choice(
            [
                torch.zeros(1).as_strided((2**20, 2**20), (0, 0)),
                torch.zeros(5).as_strided((3, 3), (1, 1)),
                tensor.reshape(-1).flip(0).reshape(tensor.shape) if tensor.dim() else tensor,
                tensor.t().contiguous().t() if tensor.dim() == 2 else tensor.expand(*shape),
                torch.zeros(shape).as_strided(shape, (0,) * len(shape)),
            ]
        )
    elif what == "dtype":
        state_dict[key] = tensor.to(
            rng.choice([torch.float64, torch.float16, torch.int32, torch.bool, torch.complex64])
        )
    elif what == "value":
        state_dict[key] = rng.choice([7, "x", [tensor], {"a": tensor}, None, torch.zeros(3, 3).to_sparse()])
    elif what == "key":
        state_dict[rng.choice([1, "", "x" * 1000, ("a",)])] = state_dict.pop(key)
    elif what == "code":
        state_dict[key] = _RunsCode(str(marker))
        return pickle.dumps(loaded, protocol=2), "pickle that runs code"
    buffer = io.BytesIO()
    torch.save(loaded, buffer)
    saved = buffer.getvalue()
    if what in ("pickle", "record") and saved.startswith(b"PK"):

        def change(name: str, content: bytes) -> bytes | None:
            is_pickle = name.endswith("data.pkl")
            if (what == "pickle") != is_pickle or (what == "record" and "/data/" not in name):
                return content
            if rng.random() < 0.3:
                return content[: rng.randrange(len(content) + 1)]
            content = bytearray(content)
            for _ in range(rng.randint(1, 4)):
                content[rng.randrange(len(content))] = rng.randrange(256)
            return bytes(content)

        return _rezip(saved, change), f"pth {what} bytes changed"
    return saved, f"pth {what} of {key!r:.60}"


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    what = rng.choice(["truncate", "flip", "length"])
    if what == "truncate":
        cut = rng.randrange(len(data))
        return data[:cut], f"truncated at {cut}"
    if what == "length" and not data.startswith((b"PK", b"\x80")):
        value = rng.choice([0, 1, 7, 2**63, 2**64 - 1, struct.unpack("<Q", data[:8])[0] + rng.choice([-1, 1, 8])])
        return struct.pack("<Q", value) + data[8:], f"header length {value}"
    changed = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        changed[rng.randrange(min(len(changed), 4096))] = rng.randrange(256)
    return bytes(changed), "bytes flipped"


def check_weights_case(rng: random.Random, seed: Seed, work: Path, index: int, mutations: list[str]) -> str:
    """Mutate ``seed`` (saying how in ``mutations``), load it with zoo.load_weights; the outcome (or CaseFailure)."""
    marker = work / "code-ran"
    if seed.name.endswith(".safetensors") and rng.random() < 0.75:
        data, mutation = mutate_safetensors(rng, seed.data)
    elif seed.name.endswith(".pth") and rng.random() < 0.75:
        data, mutation = mutate_pth(rng, seed.data, marker)
    else:
        data, mutation = mutate_bytes(rng, seed.data)
    mutations.append(mutation)
    path = work / f"case{index}{rng.choice(['.safetensors', '.pth'])}"
    path.write_bytes(data)
    try:
        try:
            model = zoo.load_weights(path)
        except PROJECT_ERRORS as error:
            if "weights_only=False" in str(error) or "weights_only` set to `False" in str(error):
                raise CaseFailure(f"the message advises weights_only=False: {error}") from None
            return f"refused:{type(error).__name__}"
        finally:
            if marker.exists():
                raise CaseFailure("code from a pickle ran")
        _verify_loaded(model, path)
        return "loaded:matches-file"
    finally:
        path.unlink()


def _verify_loaded(model: DenseNet, path: Path) -> None:
    """The model holds exactly the file's tensors, has the config's keys, and computes."""
    from safetensors.torch import load_file

    try:
        raw = load_file(str(path))
    except Exception:  # a torch.save file
        loaded = torch.load(str(path), weights_only=True)
        raw = loaded.get("state_dict", loaded)
    raw = remap_torchvision_keys(raw)
    state = model.state_dict()
    if list(state) != list(state_dict_shapes(model.config)):
        raise CaseFailure("the loaded model's keys are not the config's")
    for key, tensor in raw.items():
        if not torch.equal(state[key], tensor.to(state[key].dtype)):
            raise CaseFailure(f"{key} differs from the file")
    size = 32 if model.config.stem == "cifar" else 64
    with torch.no_grad():
        output = model(torch.rand(1, 3, size, size))
    if tuple(output.shape) != (1, model.config.num_classes):
        raise CaseFailure(f"output shape {tuple(output.shape)}")


# -- the campaign -----------------------------------------------------------------------------------------
def _on_alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout(f"a case ran longer than {CASE_SECONDS} s")


def _limit_memory(extra_bytes: int) -> None:
    """RLIMIT_AS = what the process maps now + ``extra_bytes``: a runaway allocation fails instead."""
    with open("/proc/self/status") as status:
        mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    limit = mapped + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run(target: str, cases: int, seed: int, memory_mb: int = 2048, verbose: bool = False) -> Summary:
    """Run ``cases`` mutated inputs of ``target`` ("t7" or "weights") from random seed ``seed``."""
    torch.set_num_threads(1)
    summary = Summary(target, seed)
    rng = random.Random(seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as workdir:
        work = Path(workdir)
        seeds = t7_seeds() if target == "t7" else weights_seeds(work)
        check = check_t7_case if target == "t7" else check_weights_case
        _limit_memory(memory_mb * 2**20)
        signal.signal(signal.SIGALRM, _on_alarm)
        for index in range(cases):
            chosen = rng.choice(seeds)
            case_rng = random.Random(rng.getrandbits(64))
            case_start = time.perf_counter()
            signal.alarm(CASE_SECONDS)
            mutations: list[str] = []
            try:
                outcome = check(case_rng, chosen, work, index, mutations)
            except Exception as error:  # whatever escapes is the finding
                outcome = "FAILED"
                summary.failures.append(
                    {
                        "case": index,
                        "seed_file": chosen.name,
                        "mutations": mutations,
                        "error": f"{type(error).__name__}: {str(error)[:500]}",
                        "where": traceback.format_exc(limit=-3)[-1500:],
                    }
                )
                for path in work.iterdir():
                    if path.is_dir():
                        path.rmdir()
                    else:
                        path.unlink()
            finally:
                signal.alarm(0)
            summary.outcomes[outcome] += 1
            summary.cases += 1
            elapsed = time.perf_counter() - case_start
            summary.slowest_case_seconds = max(summary.slowest_case_seconds, elapsed)
            if verbose:
                print(f"{index:5d} {chosen.name:<32} {elapsed:6.2f}s {outcome}", file=sys.stderr)
    summary.seconds = time.perf_counter() - start
    summary.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["t7", "weights"], required=True)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-mb", type=int, default=2048, help="address space allowed above the start")
    parser.add_argument("--verbose", action="store_true", help="one line per case on stderr")
    options = parser.parse_args(argv)
    summary = run(options.target, options.cases, options.seed, options.memory_mb, options.verbose)
    print(json.dumps(summary.to_dict(), indent=2))
    return 1 if summary.failures else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

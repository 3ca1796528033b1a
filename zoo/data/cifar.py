"""CIFAR-10/100 "python version" files, read without running anything they contain.

The official batches are Python 2 ``cPickle`` files (protocol 2): a dict of byte strings to a
numpy uint8 array ``data`` (N x 3072: 1024 red, 1024 green, 1024 blue values of a 32x32 image),
lists of int labels, byte strings and ints. ``pickle.load`` on such a file would import and call
whatever the file names, so a crafted ``data_batch_1`` could run any code. Here a file is first
scanned opcode by opcode (:func:`pickletools.genops`: no object is built) and refused unless it
uses only the operations of plain containers; then it is unpickled with a ``find_class`` that
knows only the names numpy's array pickles use (``numpy.core.multiarray._reconstruct``,
``numpy.ndarray``, ``numpy.dtype``, their ``numpy._core`` spellings, and what Python 3 writes:
``numpy._core.numeric._frombuffer``, ``_codecs.encode``). Those names map to small builders in
this module, not to numpy's functions: they accept only uint8/int64 arrays whose byte count
matches their declared shape. Finally the batch is checked: ``data`` uint8 N x 3072, N labels,
each in range.

A split is read from a folder (the extracted ``cifar-10-batches-py/`` or ``cifar-100-python/``,
or the folder above it) or straight from the official ``cifar-10-python.tar.gz`` /
``cifar-100-python.tar.gz``: members are read into memory in one pass, with bounds on their
sizes, nothing is extracted and links in the archive are ignored.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import pickletools
import re
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from zoo.data.errors import CifarError, UnsafePickleError
from zoo.data.files import open_regular_file, read_regular_file

__all__ = ["CIFAR_NUM_CLASSES", "CifarError", "UnsafePickleError", "read_split", "unpickle_batch"]

#: Label count of each dataset name.
CIFAR_NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
#: Values per image: 3 planes of 32 x 32.
IMAGE_VALUES = 3 * 32 * 32
#: The largest official file (CIFAR-100 ``train``) holds 155 MB.
MAX_FILE_BYTES = 512 * 2**20
#: Both official archives hold 186 MB once decompressed.
MAX_ARCHIVE_BYTES = 768 * 2**20
MAX_ARCHIVE_MEMBERS = 1000
#: The CIFAR-100 ``train`` file, the largest, has about 300,000 pickle operations (one per label and name).
MAX_PICKLE_OPERATIONS = 2_000_000
#: Where the split files may sit: the given folder, or the official archives' folders below it.
FOLDERS = ("", "cifar-10-batches-py", "cifar-100-python")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
DOWNLOAD_HINT = f"download the python version again from {CIFAR_URL}"


# ----------------------------------------------------------------------------- restricted unpickling

#: The pickle operations of plain data (protocols 0-5): no persistent ids, no INST/OBJ/NEWOBJ, no
#: extension registry, no out-of-band buffers. GLOBAL/STACK_GLOBAL still pass through ``find_class``.
PLAIN_OPCODES = frozenset(
    {
        *("PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP"),
        *("NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"),
        *("FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"),
        *("BYTEARRAY8", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"),
        *("EMPTY_LIST", "APPEND", "APPENDS", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"),
        *("EMPTY_DICT", "DICT", "SETITEM", "SETITEMS"),
        *("GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"),
        *("GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD"),
    }
)
MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _text(value: Any) -> Any:
    """A Python 2 string (``bytes`` under ``encoding="bytes"``) as ``str``; anything else unchanged."""
    return value.decode("latin1") if isinstance(value, bytes) else value


class _Builder:
    """A name the pickle may use, mapped to one of this module's builders (never to numpy's own)."""

    __slots__ = ("function", "name")

    def __init__(self, name: str, function: Callable[..., Any]) -> None:
        self.name = name
        self.function = function

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(f"BUILD on the global {self.name}")


def _refuse_ndarray_call(*args: Any) -> Any:
    raise UnsafePickleError("numpy.ndarray called directly (official files only pass it to _reconstruct)")


NDARRAY = _Builder("numpy.ndarray", _refuse_ndarray_call)


class _Dtype:
    """``numpy.dtype('u1' | 'i8', ...)`` as the pickle builds it; BUILD may set the byte order only."""

    __slots__ = ("byteorder", "spec")
    SPECS = ("u1", "i8")

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.byteorder = "="

    def __setstate__(self, state: Any) -> None:
        # numpy's dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        if not (isinstance(state, tuple) and len(state) >= 5 and state[2:5] == (None, None, None)):
            raise UnsafePickleError(f"a dtype state other than a plain {self.spec} (found {type(state).__name__})")
        byteorder = _text(state[1])
        if byteorder not in ("<", ">", "=", "|"):
            raise UnsafePickleError(f"dtype byte order {byteorder!r}")
        self.byteorder = byteorder

    def resolve(self) -> np.dtype:
        return np.dtype(self.spec).newbyteorder(self.byteorder)


def _dtype(spec: Any, align: Any = False, copy: Any = True) -> _Dtype:
    spec = _text(spec)
    if spec not in _Dtype.SPECS:
        raise UnsafePickleError(f"numpy dtype {spec!r} (official files hold uint8 'u1' and int64 'i8' only)")
    return _Dtype(spec)


def _array(buffer: Any, dtype: Any, shape: Any, fortran: bool) -> np.ndarray:
    """The array a pickle declares, once its byte count matches its shape and dtype."""
    if not isinstance(dtype, _Dtype):
        raise UnsafePickleError(f"an array whose dtype is a {type(dtype).__name__}")
    if not (isinstance(shape, tuple) and len(shape) <= 4 and all(type(n) is int and n >= 0 for n in shape)):
        raise UnsafePickleError(f"an array shape that is not a tuple of at most 4 sizes: {shape!r:.80}")
    buffer = buffer.encode("latin1") if isinstance(buffer, str) else buffer
    if not isinstance(buffer, (bytes, bytearray)):
        raise UnsafePickleError(f"array data in a {type(buffer).__name__}")
    resolved = dtype.resolve()
    declared = int(np.prod(shape, dtype=object)) * resolved.itemsize
    if len(buffer) != declared:
        raise CifarError(f"an array of shape {shape} {resolved} needs {declared:,} bytes but holds {len(buffer):,}")
    return np.frombuffer(buffer, dtype=resolved).reshape(shape, order="F" if fortran else "C")


class _PendingArray:
    """What ``_reconstruct`` returns: an empty array that the following BUILD fills exactly once."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickleError("an array state other than numpy's (version, shape, dtype, fortran, data)")
        if len(state) == 5 and state[0] != 1:
            raise UnsafePickleError(f"numpy array state version {state[0]!r}")
        shape, dtype, fortran, data = state[-4:]
        if fortran not in (0, 1):
            raise UnsafePickleError(f"array order flag {fortran!r}")
        self.array = _array(data, dtype, shape, bool(fortran))


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _PendingArray:
    if subtype is not NDARRAY or shape != (0,) or _text(typecode) != "b":
        raise UnsafePickleError("numpy _reconstruct with arguments other than (numpy.ndarray, (0,), 'b')")
    return _PendingArray()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if _text(order) not in ("C", "F"):
        raise UnsafePickleError(f"array order {order!r}")
    return _array(buffer, dtype, shape, _text(order) == "F")


def _latin1_encode(text: Any, encoding: Any) -> bytes:
    """``_codecs.encode(text, 'latin1')``: how Python 3 writes ``bytes`` at protocol 2 and below."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("_codecs.encode other than of a string to latin1")
    return text.encode("latin1")


ALLOWED_GLOBALS: dict[tuple[str, str], _Builder] = {
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): _Builder("numpy.dtype", _dtype),
    **{(module, "_reconstruct"): _Builder(f"{module}._reconstruct", _reconstruct) for module in
       ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "_frombuffer"): _Builder(f"{module}._frombuffer", _frombuffer) for module in
       ("numpy.core.numeric", "numpy._core.numeric")},
    ("_codecs", "encode"): _Builder("_codecs.encode", _latin1_encode),
}  # fmt: skip


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"the global {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("a persistent id")


def _scan(content: bytes) -> None:
    """Refuse, before anything is built, an operation plain data does not need, a global outside
    :data:`ALLOWED_GLOBALS`, and memo indices that would make the unpickler allocate far more than the
    file holds (``LONG_BINPUT 4294967295`` makes CPython's unpickler size its memo table to 32 GiB)."""
    puts = 0
    for count, (opcode, argument, _position) in enumerate(pickletools.genops(content), 1):
        if count > MAX_PICKLE_OPERATIONS:
            raise CifarError(f"more than {MAX_PICKLE_OPERATIONS:,} pickle operations")
        if opcode.name not in PLAIN_OPCODES:
            raise UnsafePickleError(f"the pickle operation {opcode.name}")
        if opcode.name == "GLOBAL":
            module, _, name = argument.partition(" ")
            if (module, name) not in ALLOWED_GLOBALS:
                raise UnsafePickleError(f"the global {module}.{name}")
        elif opcode.name in MEMO_PUTS:
            if not 0 <= argument <= puts:
                raise CifarError(f"memo index {argument} after {puts} stored objects")
            puts += argument == puts
        elif opcode.name == "MEMOIZE":
            puts += 1


def _pending_to_arrays(value: Any) -> Any:
    if not isinstance(value, _PendingArray):
        return value
    if value.array is None:
        raise CifarError("an array without its data (no BUILD after _reconstruct)")
    return value.array


def unpickle_batch(content: bytes, where: str) -> dict[str, Any]:
    """The dict a CIFAR batch file holds, string keys, arrays as read-only numpy arrays.

    Raises :class:`UnsafePickleError` for anything the official files never contain (naming the
    global or operation) and :class:`CifarError` for a malformed file; nothing in the file runs.
    """
    try:
        _scan(content)
        batch = _PlainUnpickler(io.BytesIO(content), encoding="bytes").load()
    except UnsafePickleError as error:
        raise UnsafePickleError(
            f"{where}: refused to unpickle {error}: a CIFAR batch holds only dicts, lists, strings, numbers and"
            f" numpy uint8/int64 arrays; this file is not the official CIFAR python version and could run code"
            f" if loaded with pickle. Do not use it; {DOWNLOAD_HINT}"
        ) from None
    except Exception as error:  # only this module's code runs while unpickling: every failure is the file's
        raise CifarError(
            f"{where}: not a CIFAR batch: the pickle is malformed or truncated ({type(error).__name__}: {error});"
            f" {DOWNLOAD_HINT}"
        ) from None
    if not isinstance(batch, dict):
        raise CifarError(f"{where}: expected a CIFAR batch (a dict), found a {type(batch).__name__}; {DOWNLOAD_HINT}")
    try:
        return {_text(key): _pending_to_arrays(value) for key, value in batch.items()}
    except CifarError as error:
        raise CifarError(f"{where}: {error}; {DOWNLOAD_HINT}") from None


# ----------------------------------------------------------------------------- batch contents


def _labels(batch: dict[str, Any], where: str, num_classes: int) -> list[int]:
    key, other = ("fine_labels", "cifar10") if num_classes == 100 else ("labels", "cifar100")
    values = batch.get(key)
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind == "i":
        values = values.astype(np.int64).tolist()
    if not isinstance(values, list) or not all(type(label) is int for label in values):
        found = "missing" if values is None else f"a {type(values).__name__}"
        hint = f" (is this {other}? use --dataset {other})" if values is None else ""
        raise CifarError(f"{where}: expected {key!r} as a list of ints, it is {found}{hint}")
    bad = next((label for label in values if not 0 <= label < num_classes), None)
    if bad is not None:
        hint = " (is this CIFAR-100? use --dataset cifar100)" if num_classes == 10 and 0 <= bad < 100 else ""
        raise CifarError(f"{where}: label {bad} is outside 0..{num_classes - 1} for {num_classes} classes{hint}")
    return values


def check_batch(batch: dict[str, Any], where: str, num_classes: int) -> tuple[np.ndarray, list[int]]:
    """``(images uint8 [N, 3, 32, 32], labels)`` of one unpickled batch, after checking types, sizes and ranges."""
    data = batch.get("data")
    if not (
        isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == IMAGE_VALUES
    ):
        found = (
            "missing"
            if data is None
            else f"{type(data).__name__} {getattr(data, 'dtype', '')} {getattr(data, 'shape', '')}"
        )
        raise CifarError(f"{where}: expected 'data' as a uint8 array of N x {IMAGE_VALUES} values, found {found}")
    labels = _labels(batch, where, num_classes)
    if len(labels) != len(data):
        raise CifarError(f"{where}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


# ----------------------------------------------------------------------------- files and archives

_DATA_BATCH = re.compile(r"data_batch_([0-9]{1,4})")
#: The official archive of each dataset, looked for in a folder that holds no batch files.
ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}


def _split_order(name: str, train: bool) -> tuple[int, int] | None:
    """Sort key of a file of the split: CIFAR-10's (``data_batch_N`` by N, ``test_batch``) before
    CIFAR-100's (``train``, ``test``); None for any other file."""
    if not train:
        return {"test_batch": (0, 0), "test": (1, 0)}.get(name)
    match = _DATA_BATCH.fullmatch(name)
    if match is not None:
        return (0, int(match.group(1)))
    return (1, 0) if name == "train" else None


def _is_split_file(path: str, train: bool) -> bool:
    parent, _, name = path.rpartition("/")
    return parent in FOLDERS and _split_order(name, train) is not None


def _pick_split(paths: list[str], train: bool) -> list[str]:
    """The files of one split among ``paths`` (``folder/name``): from the first folder of :data:`FOLDERS` that
    has any, of one dataset (CIFAR-10's batches before CIFAR-100's single file), in the official order."""
    for folder in FOLDERS:
        keyed = sorted(
            (_split_order(name, train), path)
            for path in paths
            for parent, _, name in [path.rpartition("/")]
            if parent == folder and _split_order(name, train) is not None
        )
        if keyed:
            kind = keyed[0][0][0]
            chosen = [path for key, path in keyed if key[0] == kind]
            return chosen if train else chosen[:1]
    return []


def _missing(source: Path, train: bool) -> CifarError:
    wanted = "data_batch_1..5 (CIFAR-10) or train (CIFAR-100)" if train else "test_batch (CIFAR-10) or test (CIFAR-100)"
    return CifarError(
        f"no CIFAR {wanted} file in {source} (nor in cifar-10-batches-py/ or cifar-100-python/ below it); give the"
        " extracted folder or the cifar-10-python.tar.gz / cifar-100-python.tar.gz archive itself, which you can"
        f" download from {CIFAR_URL} (the python version)"
    )


def _folder_split(root: Path, train: bool) -> list[str]:
    """The split's files below ``root``, as ``folder/name`` paths relative to it."""
    paths = []
    for folder in FOLDERS:
        directory = root / folder if folder else root
        if directory.is_dir():
            paths += [f"{folder}/{entry.name}".lstrip("/") for entry in os.scandir(directory) if entry.is_file()]
    return _pick_split(paths, train)


def _folder_files(root: Path, train: bool) -> list[tuple[str, bytes]]:
    picked = _folder_split(root, train)
    if not picked:
        raise _missing(root, train)
    return [(str(root / name), read_regular_file(root / name, MAX_FILE_BYTES, "CIFAR file")) for name in picked]


class _BoundedReader:
    """A stream that fails once more than ``limit`` bytes have been read from it (a decompression bomb)."""

    def __init__(self, stream: BinaryIO, limit: int, where: str) -> None:
        self.stream, self.limit, self.where, self.done = stream, limit, where, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size if size >= 0 else self.limit + 1)
        self.done += len(chunk)
        if self.done > self.limit:
            raise CifarError(f"{self.where}: decompresses to more than {self.limit:,} bytes; not a CIFAR archive")
        return chunk


def _archive_files(path: Path, train: bool) -> list[tuple[str, bytes]]:
    """The split's members of a (gzipped) tar archive, read in one streaming pass; links and folders skipped."""
    where = str(path)
    contents: dict[str, bytes] = {}
    with open_regular_file(path, 2**40, "CIFAR archive") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = _BoundedReader(gzip.GzipFile(fileobj=raw) if compressed else raw, MAX_ARCHIVE_BYTES, where)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for count, member in enumerate(archive, 1):
                    if count > MAX_ARCHIVE_MEMBERS:
                        raise CifarError(f"{where}: more than {MAX_ARCHIVE_MEMBERS} members; not a CIFAR archive")
                    name = member.name.removeprefix("./")
                    if not member.isreg() or not _is_split_file(name, train):
                        continue
                    if member.size > MAX_FILE_BYTES or name in contents:
                        raise CifarError(f"{where}: member {name} is too large or appears twice; not a CIFAR archive")
                    contents[name] = archive.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise CifarError(f"{where}: not a readable tar(.gz) archive ({type(error).__name__}: {error})") from None
    picked = _pick_split(list(contents), train)
    if not picked:
        raise _missing(path, train)
    return [(f"{where}:{name}", contents[name]) for name in picked]


def read_split(source: str | os.PathLike[str], train: bool, dataset: str) -> tuple[np.ndarray, list[int]]:
    """Images (uint8 ``[N, 3, 32, 32]``) and labels of the training or test split of ``dataset``.

    ``source`` is the folder of the batch files (or the folder above ``cifar-10-batches-py/`` /
    ``cifar-100-python/``) or an official ``.tar.gz`` archive. Files are read in the official
    order (``data_batch_1`` .. ``data_batch_5``).
    """
    if dataset not in CIFAR_NUM_CLASSES:
        raise CifarError(f"expected dataset 'cifar10' or 'cifar100', got {dataset!r}")
    source = Path(source)
    if source.is_dir() and not _folder_split(source, train) and (source / ARCHIVES[dataset]).is_file():
        source = source / ARCHIVES[dataset]
    if not source.exists():
        raise _missing(source, train)
    try:
        files = _folder_files(source, train) if source.is_dir() else _archive_files(source, train)
    except OSError as error:
        raise CifarError(f"cannot read CIFAR data at {source}: {error}") from error
    images, labels = [], []
    for where, content in files:
        batch_images, batch_labels = check_batch(unpickle_batch(content, where), where, CIFAR_NUM_CLASSES[dataset])
        images.append(batch_images)
        labels.extend(batch_labels)
    return np.concatenate(images), labels

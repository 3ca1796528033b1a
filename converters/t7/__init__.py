"""The Torch7 serialization formats (``torch.save`` / ``.t7`` files, binary and ascii), read and written.

``load`` parses a file into the object model of :mod:`converters.t7.objects`
(binary files lazily: storages are read-only views over a memory map of the
file; ascii files, detected automatically, have their numbers parsed into
arrays), ``save`` writes such a tree back atomically; ``loads``/``dumps`` do
the same for bytes. Malformed input raises :class:`T7FormatError`. This layer
knows nothing about DenseNet.
"""

from .ascii_reader import T7AsciiReader
from .errors import T7Error, T7FormatError, T7WriteError
from .loading import MODES, detect_mode, ensure_loaded, load, loads
from .objects import T7Function, T7Object, T7Storage, T7Table, T7Tensor, iter_tree
from .reader import DEFAULT_MAX_DEPTH, T7Reader, register_handler
from .typenames import STORAGE_DTYPES, TENSOR_DTYPES
from .writer import T7AsciiWriter, T7Writer, dump, dumps, save

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "MODES",
    "STORAGE_DTYPES",
    "TENSOR_DTYPES",
    "T7AsciiReader",
    "T7AsciiWriter",
    "T7Error",
    "T7FormatError",
    "T7Function",
    "T7Object",
    "T7Reader",
    "T7Storage",
    "T7Table",
    "T7Tensor",
    "T7WriteError",
    "T7Writer",
    "detect_mode",
    "dump",
    "dumps",
    "ensure_loaded",
    "iter_tree",
    "load",
    "loads",
    "register_handler",
    "save",
]

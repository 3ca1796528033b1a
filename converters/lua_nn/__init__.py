"""PyTorch modules that compute what Lua Torch7 ``nn`` classes compute where no torch builtin does exactly.

The translators of :mod:`converters.translate` build models from these and
from torch builtins (``nn.Conv2d``, ``nn.Linear``, ``nn.ReLU``, ...). Every
class here imports only ``torch``, ``math`` and the standard library and is
self-contained, takes plain Python literals as constructor arguments (its
``extra_repr`` writes them as keyword arguments; containers take their
children positionally first), and names the Lua class it mirrors in its
docstring, so that a standalone ``model.py`` can copy its source.
"""

from converters.lua_nn.activation import LogSoftMax, SoftMax
from converters.lua_nn.arithmetic import MulConstant, Power, Sqrt, Square
from converters.lua_nn.containers import Concat, ConcatTable, DepthConcat, Inception, Parallel, ParallelTable
from converters.lua_nn.dropout import Dropout
from converters.lua_nn.graph import Graph
from converters.lua_nn.normalization import BatchNormalization, Normalize, SpatialCrossMapLRN
from converters.lua_nn.pooling import SpatialAveragePooling, SpatialMaxPooling, SpatialUpSamplingNearest
from converters.lua_nn.shape import Padding, Reshape, View
from converters.lua_nn.tables import CAddTable, JoinTable

__all__ = [
    "BatchNormalization",
    "CAddTable",
    "Concat",
    "ConcatTable",
    "DepthConcat",
    "Dropout",
    "Graph",
    "Inception",
    "JoinTable",
    "LogSoftMax",
    "MulConstant",
    "Normalize",
    "Padding",
    "Parallel",
    "ParallelTable",
    "Power",
    "Reshape",
    "SoftMax",
    "SpatialAveragePooling",
    "SpatialCrossMapLRN",
    "SpatialMaxPooling",
    "SpatialUpSamplingNearest",
    "Sqrt",
    "Square",
    "View",
]

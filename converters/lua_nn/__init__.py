"""PyTorch modules that compute what Lua Torch7 ``nn`` classes compute where no torch builtin does exactly.

The translators of :mod:`converters.translate` build models from these and
from torch builtins (``nn.Conv2d``, ``nn.Linear``, ``nn.ReLU``, ...). Every
class here imports only ``torch``, ``math`` and the standard library and is
self-contained (apart from a base class of this package, which ``model.py``
copies with it), takes plain Python literals as constructor arguments (its
``extra_repr`` writes them as keyword arguments; containers take their
children positionally first), and names the Lua class it mirrors in its
docstring, so that a standalone ``model.py`` can copy its source.
"""

from converters.lua_nn.activation import InstanceSoftMax, LogSoftMax, SoftMax, SoftMin
from converters.lua_nn.arithmetic import (
    Abs,
    Add,
    AddConstant,
    CAdd,
    CMul,
    Exp,
    GradientReversal,
    L1Penalty,
    Log,
    Mul,
    MulConstant,
    Power,
    Sqrt,
    Square,
)
from converters.lua_nn.containers import (
    Bottle,
    Concat,
    ConcatTable,
    DenseConnectLayerCustom,
    DepthConcat,
    Inception,
    MapTable,
    Parallel,
    ParallelTable,
)
from converters.lua_nn.dropout import Dropout, SpatialDropout
from converters.lua_nn.graph import Graph
from converters.lua_nn.linear import Bilinear, Euclidean, LookupTable, TemporalConvolution
from converters.lua_nn.normalization import BatchNormalization, Normalize, SpatialCrossMapLRN
from converters.lua_nn.pooling import (
    SpatialAdaptiveMaxPooling,
    SpatialAveragePooling,
    SpatialMaxPooling,
    SpatialUpSamplingBilinear,
    SpatialUpSamplingNearest,
    VolumetricMaxPooling,
)
from converters.lua_nn.reduction import Reduction
from converters.lua_nn.shape import (
    Contiguous,
    Copy,
    Narrow,
    Padding,
    Replicate,
    Reshape,
    Select,
    Squeeze,
    Transpose,
    Unsqueeze,
    View,
)
from converters.lua_nn.tables import (
    MM,
    CAddTable,
    CDivTable,
    CMaxTable,
    CMinTable,
    CMulTable,
    CSubTable,
    FlattenTable,
    JoinTable,
    NarrowTable,
    SelectTable,
    SplitTable,
)

__all__ = [
    "MM",
    "Abs",
    "Add",
    "AddConstant",
    "BatchNormalization",
    "Bilinear",
    "Bottle",
    "CAdd",
    "CAddTable",
    "CDivTable",
    "CMaxTable",
    "CMinTable",
    "CMul",
    "CMulTable",
    "CSubTable",
    "Concat",
    "ConcatTable",
    "Contiguous",
    "Copy",
    "DenseConnectLayerCustom",
    "DepthConcat",
    "Dropout",
    "Euclidean",
    "Exp",
    "FlattenTable",
    "GradientReversal",
    "Graph",
    "Inception",
    "InstanceSoftMax",
    "JoinTable",
    "L1Penalty",
    "Log",
    "LogSoftMax",
    "LookupTable",
    "MapTable",
    "Mul",
    "MulConstant",
    "Narrow",
    "NarrowTable",
    "Normalize",
    "Padding",
    "Parallel",
    "ParallelTable",
    "Power",
    "Reduction",
    "Replicate",
    "Reshape",
    "Select",
    "SelectTable",
    "SoftMax",
    "SoftMin",
    "SpatialAdaptiveMaxPooling",
    "SpatialAveragePooling",
    "SpatialCrossMapLRN",
    "SpatialDropout",
    "SpatialMaxPooling",
    "SpatialUpSamplingBilinear",
    "SpatialUpSamplingNearest",
    "SplitTable",
    "Sqrt",
    "Square",
    "Squeeze",
    "TemporalConvolution",
    "Transpose",
    "Unsqueeze",
    "View",
    "VolumetricMaxPooling",
]

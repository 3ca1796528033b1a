"""An independent reference: run a parsed Lua nn module tree forward, in evaluate mode, in float64.

This re-implements what each Torch7 module's ``updateOutput`` computes, straight
from the Lua objects' own fields and tensors, with torch.nn.functional (and
plain loops where nn's or cuDNN's rule is unusual). It shares no code with the
converter, so agreement between the two is evidence that the converter's
mapping is right. Classes the genuine fixtures do not cover are here too: the
cudnn namesakes whose semantics differ from nn's (instance-mode SoftMax, the
LRN window, 3-D pooling, TemporalConvolution), DataParallelTable, and THNN's
single-precision adaptive max-pooling windows. So are the classes of the
model-zoo families the writers in ``converters.synthetic`` build
(fb.resnet.torch, fast-neural-style, OpenFace: ConcatTable, CAddTable,
View/Reshape with their batch rules, DepthConcat, dpnn's Inception,
SpatialLPPooling, Normalize, the padding modules, InstanceNormalization,
ShaveImage, TotalVariation, ...); ``test_lua_reference.py`` checks them
against genuine Lua outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from converters import t7


def _tensor(lua_module: t7.T7Object, name: str) -> torch.Tensor | None:
    value = lua_module.get(name)
    if value is None:
        return None
    return torch.from_numpy(value.numpy().copy()).double()


def _lua_true(value: Any) -> bool:
    """Lua's truth: every value but nil and false (0 and "" are true)."""
    return value is not None and value is not False


def _children(lua_module: t7.T7Object) -> list[t7.T7Object]:
    return lua_module["modules"].as_list()


def lua_forward(lua_module: t7.T7Object, value: Any) -> Any:
    """``lua_module:evaluate(); lua_module:forward(value)``: the classes a DenseNet uses here, the others below."""
    name = lua_module.typename.split(".", 1)[1]
    if name == "Sequential":
        for child in _children(lua_module):
            value = lua_forward(child, value)
        return value
    if name == "Concat":
        return torch.cat([lua_forward(child, value) for child in _children(lua_module)], lua_module["dimension"] - 1)
    if name == "Identity":
        return value
    if name == "JoinTable":
        return torch.cat(list(value), lua_module["dimension"] - 1)
    if name == "DenseConnectLayerCustom":
        # What updateOutput runs is net1/net2, which after torch.load are apart from modules[1]/[2], so a plain
        # Lua evaluate() leaves their BatchNorms on batch statistics; this is the intended evaluation output:
        # every BatchNorm here uses its running statistics, whatever its train flag.
        net1, net2 = lua_module["net1"], lua_module["net2"]
        if isinstance(value, torch.Tensor):
            return [value, lua_forward(net2, lua_forward(net1, value))]
        return [*list(value), lua_forward(net2, lua_forward(net1, torch.cat(list(value), 1)))]
    if name in ("SpatialConvolution", "SpatialConvolutionMM"):
        weight = _tensor(lua_module, "weight").reshape(
            lua_module["nOutputPlane"], lua_module["nInputPlane"], lua_module["kH"], lua_module["kW"]
        )
        return F.conv2d(
            value,
            weight,
            _tensor(lua_module, "bias"),
            stride=(lua_module["dH"], lua_module["dW"]),
            padding=(lua_module.get("padH", 0), lua_module.get("padW", 0)),
        )
    if name in ("BatchNormalization", "SpatialBatchNormalization", "VolumetricBatchNormalization"):
        shape = (1, -1) + (1,) * (value.dim() - 2)
        mean = _tensor(lua_module, "running_mean").reshape(shape)
        if "running_var" in lua_module:
            inv_std = 1.0 / torch.sqrt(_tensor(lua_module, "running_var") + lua_module["eps"])
        else:  # nn before BatchNormalization version 2 kept 1/sqrt(var + eps)
            inv_std = _tensor(lua_module, "running_std")
        out = (value - mean) * inv_std.reshape(shape)
        if lua_module.get("weight") is not None:
            out = out * _tensor(lua_module, "weight").reshape(shape) + _tensor(lua_module, "bias").reshape(shape)
        return out
    if name == "ReLU":
        return torch.relu(value)
    if name == "Dropout":
        return value if _lua_true(lua_module.get("v2", True)) else value * (1 - lua_module["p"])
    if name == "SpatialMaxPooling":
        return F.max_pool2d(
            value,
            (lua_module["kH"], lua_module["kW"]),
            (lua_module["dH"], lua_module["dW"]),
            (lua_module["padH"], lua_module["padW"]),
            ceil_mode=_lua_true(lua_module.get("ceil_mode")),
        )
    if name == "SpatialAveragePooling":
        out = F.avg_pool2d(
            value,
            (lua_module["kH"], lua_module["kW"]),
            (lua_module["dH"], lua_module["dW"]),
            (lua_module.get("padH", 0), lua_module.get("padW", 0)),
            ceil_mode=_lua_true(lua_module.get("ceil_mode")),
            # cudnn.torch computes `count_include_pad ~= nil and count_include_pad or true`: always true
            count_include_pad=lua_module.typename.startswith("cudnn.")
            or _lua_true(lua_module.get("count_include_pad", True)),
        )
        if lua_module.typename.startswith("nn.") and not lua_module.get("divide", False):
            out = out * (lua_module["kH"] * lua_module["kW"])
        return out
    if name == "Reshape":
        return _reshape(lua_module, value)
    if name == "View":
        return _view(lua_module, value)
    if name == "Linear":
        return F.linear(value, _tensor(lua_module, "weight"), _tensor(lua_module, "bias"))
    return _other_forward(lua_module, name, value)


def _other_forward(lua_module: t7.T7Object, name: str, value: Any) -> Any:
    """The classes beyond a DenseNet's (cudnn namesakes, 3-D layers, wrappers)."""
    cudnn = lua_module.typename.startswith("cudnn.")
    if name == "DataParallelTable":
        return lua_forward(_children(lua_module)[0], value)
    if name in ("Sigmoid", "Tanh"):
        return torch.sigmoid(value) if name == "Sigmoid" else torch.tanh(value)
    if name == "ClippedReLU":
        return value.clamp(0, lua_module["ceiling"])
    if name in ("SoftMax", "LogSoftMax", "SpatialSoftMax", "SpatialLogSoftMax"):
        return _softmax(lua_module, name, value, cudnn)
    if name == "SpatialCrossMapLRN":
        return _cross_map_lrn(lua_module, value, cudnn)
    if name == "SpatialFullConvolution":
        return F.conv_transpose2d(
            value,
            _tensor(lua_module, "weight"),
            _tensor(lua_module, "bias"),
            stride=(lua_module["dH"], lua_module["dW"]),
            padding=(lua_module["padH"], lua_module["padW"]),
            output_padding=(lua_module.get("adjH", 0), lua_module.get("adjW", 0)),
        )
    if name == "VolumetricConvolution":
        return F.conv3d(
            value,
            _tensor(lua_module, "weight"),
            _tensor(lua_module, "bias"),
            stride=tuple(lua_module[f"d{axis}"] for axis in "THW"),
            padding=tuple(lua_module[f"pad{axis}"] for axis in "THW"),
        )
    if name == "TemporalConvolution" and cudnn:
        return _cudnn_temporal_convolution(lua_module, value)
    if name in ("VolumetricMaxPooling", "VolumetricAveragePooling"):
        kernel = tuple(lua_module[f"k{axis}"] for axis in "THW")
        stride = tuple(lua_module[f"d{axis}"] for axis in "THW")
        padding = tuple(lua_module.get(f"pad{axis}", 0) for axis in "THW")
        if name == "VolumetricMaxPooling":
            return F.max_pool3d(value, kernel, stride, padding)
        return F.avg_pool3d(value, kernel, stride, padding, count_include_pad=True)
    if name == "SpatialAdaptiveMaxPooling":
        return _adaptive_max_pooling(lua_module, value)
    if name in _MODEL_ZOO_FORWARDS:
        return _MODEL_ZOO_FORWARDS[name](lua_module, value)
    raise NotImplementedError(f"no reference forward for {lua_module.typename}")


def _cudnn_temporal_convolution(lua_module: t7.T7Object, value: torch.Tensor) -> torch.Tensor:
    """cudnn.TemporalConvolution: a SpatialConvolution over the (N, 1, T, inputFrameSize) image, padded along T."""
    frames, pad = lua_module["inputFrameSize"], lua_module["padH"]
    weight = _tensor(lua_module, "weight").reshape(-1, 1, lua_module["kH"], frames)
    out = F.conv2d(value.unsqueeze(1), weight, _tensor(lua_module, "bias"), (lua_module["dH"], 1), (pad, 0))
    return out.squeeze(3).transpose(1, 2)


def _softmax(lua_module: t7.T7Object, name: str, value: torch.Tensor, cudnn: bool) -> torch.Tensor:
    """nn: THNN's SoftMax over dim 1 of 1-D/3-D and dim 2 of 2-D/4-D input (1-based). cudnn.torch views the input
    as (N, C, H, W) (1-D as (1, n, 1, 1), 2-D as (N, C, 1, 1), 3-D as (1, C, H, W)); its SoftMax and LogSoftMax
    use instance mode (over C, H and W together), its Spatial classes their ``mode`` (channel by default)."""
    log = "Log" in name or lua_module.get("algorithm") == "CUDNN_SOFTMAX_LOG"
    if not cudnn:
        dims = (0,) if value.dim() in (1, 3) else (1,)
        images = value
    else:
        images = {1: value.reshape(1, -1, 1, 1), 2: value.reshape(*value.shape, 1, 1), 3: value.unsqueeze(0)}.get(
            value.dim(), value
        )
        instance = name in ("SoftMax", "LogSoftMax") or lua_module.get("mode") == "CUDNN_SOFTMAX_MODE_INSTANCE"
        dims = (1, 2, 3) if instance else (1,)
    shifted = images - images.amax(dim=dims, keepdim=True)
    out = shifted - shifted.exp().sum(dim=dims, keepdim=True).log()
    out = out if log else out.exp()
    return out.reshape(value.shape)


def _cross_map_lrn(lua_module: t7.T7Object, value: torch.Tensor, cudnn: bool) -> torch.Tensor:
    """``x / (k + alpha/size * sum of x^2 over the window)^beta``, channel by channel. nn's window of channel c
    starts floor(size/2) channels before it; cuDNN's lookBehind is floor((size-1)/2)."""
    size, alpha, beta = lua_module["size"], lua_module["alpha"], lua_module["beta"]
    k = lua_module.get("k", lua_module.get("K", 1.0))
    before = (size - 1) // 2 if cudnn else size // 2
    batch = value.unsqueeze(0) if value.dim() == 3 else value
    channels = batch.shape[1]
    out = torch.empty_like(batch)
    for channel in range(channels):
        first, last = max(channel - before, 0), min(channel - before + size - 1, channels - 1)
        total = (batch[:, first : last + 1] ** 2).sum(dim=1)
        out[:, channel] = batch[:, channel] * (k + alpha / size * total) ** -beta
    return out.reshape(value.shape)


def _adaptive_max_pooling(lua_module: t7.T7Object, value: torch.Tensor) -> torch.Tensor:
    """THNN: window i of n over `size` inputs is floor(float(i)/n*size) .. ceil(float(i+1)/n*size), in float32."""

    def window(index: int, count: int, size: int) -> tuple[int, int]:
        start = np.floor(np.float32(index) / np.float32(count) * np.float32(size))
        end = np.ceil(np.float32(index + 1) / np.float32(count) * np.float32(size))
        return int(start), int(end)

    out_h, out_w = lua_module["H"], lua_module["W"]
    out = torch.empty(*value.shape[:-2], out_h, out_w, dtype=value.dtype)
    for row in range(out_h):
        top, bottom = window(row, out_h, value.shape[-2])
        for column in range(out_w):
            left, right = window(column, out_w, value.shape[-1])
            patch = value[..., top:bottom, left:right]
            out[..., row, column] = patch.reshape(*patch.shape[:-2], -1).max(dim=-1).values
    return out


def _reshape(lua_module: t7.T7Object, value: torch.Tensor) -> torch.Tensor:
    """nn.Reshape: the whole input becomes ``size`` when ``batchMode`` is false, or (unset) when it has exactly
    ``nelement`` elements and a first dimension other than 1; otherwise the first dimension is kept as the batch."""
    size = [int(extent) for extent in lua_module["size"].numpy()]
    batch_mode = lua_module.get("batchMode")
    if batch_mode is False or (batch_mode is None and value.numel() == lua_module["nelement"] and value.shape[0] != 1):
        return value.reshape(size)
    return value.reshape(value.shape[0], *size)


def _view(lua_module: t7.T7Object, value: torch.Tensor) -> torch.Tensor:
    """nn.View's ``batchsize``: the trailing ``numInputDims`` dimensions (all when unset) hold one sample; a
    leading batch is kept unless it is 1 and the input has no dimensions beyond ``numInputDims``."""
    size = [int(extent) for extent in lua_module["size"].numpy()]
    sample_dims = lua_module.get("numInputDims") or value.dim()
    per_sample = int(np.prod(value.shape[value.dim() - sample_dims :]))
    if per_sample % lua_module["numElements"]:
        raise RuntimeError(f"input view {tuple(value.shape)} and desired view {size} do not match")
    batch = 1 if -1 in size else per_sample // lua_module["numElements"]
    batch *= int(np.prod(value.shape[: value.dim() - sample_dims]))
    if batch == 1 and (lua_module.get("numInputDims") is None or value.dim() <= sample_dims):
        return value.reshape(size)
    return value.reshape(batch, *size)


def _depth_concat(lua_module: t7.T7Object, value: torch.Tensor) -> torch.Tensor:
    """dpnn/nn DepthConcat: outputs joined along ``dimension``, each centred in zeros in the other dimensions
    (start floor((largest - own) / 2), so an odd remainder goes to the end)."""
    outputs = [lua_forward(child, value) for child in _children(lua_module)]
    axis = lua_module["dimension"] - 1
    size = [max(out.shape[dim] for out in outputs) for dim in range(outputs[0].dim())]
    size[axis] = sum(out.shape[axis] for out in outputs)
    result = torch.zeros(size, dtype=value.dtype)
    offset = 0
    for out in outputs:
        window = []
        for dim, extent in enumerate(out.shape):
            start = offset if dim == axis else (size[dim] - extent) // 2
            window.append(slice(start, start + extent))
        result[tuple(window)] = out
        offset += out.shape[axis]
    return result


def _padding_index(extent: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Source index of each padded position: mirrored without repeating the edge (reflection) or clamped."""
    index = torch.arange(-before, extent + after)
    if mode == "reflect":
        index = index.abs()
        index = torch.where(index >= extent, 2 * (extent - 1) - index, index)
    return index.clamp(0, extent - 1)


def _spatial_padding(lua_module: t7.T7Object, value: torch.Tensor, mode: str) -> torch.Tensor:
    rows = _padding_index(value.shape[-2], lua_module["pad_t"], lua_module["pad_b"], mode)
    columns = _padding_index(value.shape[-1], lua_module["pad_l"], lua_module["pad_r"], mode)
    return value.index_select(-2, rows).index_select(-1, columns)


def _instance_normalization(lua_module: t7.T7Object, value: torch.Tensor) -> torch.Tensor:
    """fast-neural-style: each image and channel normalised by its own mean and biased variance, then scaled."""
    mean = value.mean(dim=(2, 3), keepdim=True)
    variance = ((value - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    out = (value - mean) / torch.sqrt(variance + lua_module["eps"])
    shape = (1, -1, 1, 1)
    return out * _tensor(lua_module, "weight").reshape(shape) + _tensor(lua_module, "bias").reshape(shape)


def _normalize(lua_module: t7.T7Object, value: torch.Tensor) -> torch.Tensor:
    """nn.Normalize over the last dimension of 1-D/2-D input: x / (sum |x|^p + eps)^(1/p), or max|x| + eps."""
    rows = value.reshape(1, -1) if value.dim() == 1 else value
    p, eps = lua_module["p"], lua_module["eps"]
    if p == float("inf"):
        norm = rows.abs().amax(dim=1, keepdim=True) + eps
    else:
        norm = ((rows.abs() ** p).sum(dim=1, keepdim=True) + eps) ** (1.0 / p)
    return (rows / norm).reshape(value.shape)


def _inception(lua_module: t7.T7Object, value: torch.Tensor) -> torch.Tensor:
    """dpnn's Inception decorates its DepthConcat (``modules[1]``), adding a batch dimension to a single image."""
    single = value.dim() == 3
    out = lua_forward(_children(lua_module)[0], value.unsqueeze(0) if single else value)
    return out.squeeze(0) if single else out


def _sequence(lua_module: t7.T7Object, value: Any) -> Any:
    for child in _children(lua_module):
        value = lua_forward(child, value)
    return value


#: The classes of the model-zoo families (fb.resnet.torch, fast-neural-style, OpenFace) not handled above.
_MODEL_ZOO_FORWARDS = {
    "ConcatTable": lambda lua_module, value: [lua_forward(child, value) for child in _children(lua_module)],
    "CAddTable": lambda lua_module, value: sum(value[1:], value[0]),
    "MulConstant": lambda lua_module, value: value * lua_module["constant_scalar"],
    "Square": lambda lua_module, value: value * value,
    "Sqrt": lambda lua_module, value: torch.sqrt(value),
    "Power": lambda lua_module, value: value ** lua_module["pow"],
    "SpatialLPPooling": _sequence,
    "DepthConcat": _depth_concat,
    "Inception": _inception,
    "Normalize": _normalize,
    "SpatialReflectionPadding": lambda lua_module, value: _spatial_padding(lua_module, value, "reflect"),
    "SpatialReplicationPadding": lambda lua_module, value: _spatial_padding(lua_module, value, "replicate"),
    "InstanceNormalization": _instance_normalization,
    "ShaveImage": lambda lua_module, value: value[
        ...,
        lua_module["size"] : value.shape[-2] - lua_module["size"],
        lua_module["size"] : value.shape[-1] - lua_module["size"],
    ],
    "TotalVariation": lambda lua_module, value: value,
    "SpatialUpSamplingNearest": lambda lua_module, value: value.repeat_interleave(
        lua_module["scale_factor"], -2
    ).repeat_interleave(lua_module["scale_factor"], -1),
}


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected|: the error in units of the output's scale."""
    actual, expected = actual.double(), expected.double()
    return float((actual - expected).abs().max() / expected.abs().max())

"""An independent reference: run a parsed Lua nn module tree forward, in evaluate mode, in float64.

This re-implements what each Torch7 module's ``updateOutput`` computes, straight
from the Lua objects' own fields and tensors, with torch.nn.functional. It
shares no code with the converter, so agreement between the two is evidence
that the converter's mapping is right.
"""

from __future__ import annotations

from typing import Any

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
    """``lua_module:evaluate(); lua_module:forward(value)`` for the classes a DenseNet uses."""
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
    if name == "SpatialBatchNormalization":
        mean = _tensor(lua_module, "running_mean").reshape(1, -1, 1, 1)
        if "running_var" in lua_module:
            inv_std = 1.0 / torch.sqrt(_tensor(lua_module, "running_var") + lua_module["eps"])
        else:  # nn before BatchNormalization version 2 kept 1/sqrt(var + eps)
            inv_std = _tensor(lua_module, "running_std")
        out = (value - mean) * inv_std.reshape(1, -1, 1, 1)
        if lua_module.get("weight") is not None:
            out = out * _tensor(lua_module, "weight").reshape(1, -1, 1, 1) + _tensor(lua_module, "bias").reshape(
                1, -1, 1, 1
            )
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
            count_include_pad=_lua_true(lua_module.get("count_include_pad", True)),
        )
        if lua_module.typename.startswith("nn.") and not lua_module.get("divide", False):
            out = out * (lua_module["kH"] * lua_module["kW"])
        return out
    if name in ("Reshape", "View"):
        return value.reshape(value.shape[0], -1)
    if name == "Linear":
        return F.linear(value, _tensor(lua_module, "weight"), _tensor(lua_module, "bias"))
    raise NotImplementedError(f"no reference forward for {lua_module.typename}")


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected|: the error in units of the output's scale."""
    actual, expected = actual.double(), expected.double()
    return float((actual - expected).abs().max() / expected.abs().max())

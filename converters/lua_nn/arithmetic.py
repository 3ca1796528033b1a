"""Lua element-wise arithmetic modules: MulConstant, Power, Square, Sqrt.

Every class imports only torch and is self-contained (the standalone
``model.py`` export copies its source); constructor arguments are the Lua
fields as plain literals.
"""

from __future__ import annotations

import torch

__all__ = ["MulConstant", "Power", "Sqrt", "Square"]


class MulConstant(torch.nn.Module):
    """``nn.MulConstant(constant_scalar, inplace)``: ``x * constant_scalar`` (written into ``x`` when ``inplace``)."""

    def __init__(self, constant_scalar: float, inplace: bool = False) -> None:
        super().__init__()
        self.constant_scalar = constant_scalar
        self.inplace = inplace

    def forward(self, input):
        return input.mul_(self.constant_scalar) if self.inplace else input * self.constant_scalar

    def extra_repr(self) -> str:
        return f"constant_scalar={self.constant_scalar!r}, inplace={self.inplace}"


class Power(torch.nn.Module):
    """``nn.Power(pow)``: ``x ^ pow``."""

    def __init__(self, pow: float) -> None:
        super().__init__()
        self.pow = pow

    def forward(self, input):
        return input.pow(self.pow)

    def extra_repr(self) -> str:
        return f"pow={self.pow!r}"


class Square(torch.nn.Module):
    """``nn.Square``: ``x * x``."""

    def forward(self, input):
        return input * input


class Sqrt(torch.nn.Module):
    """``nn.Sqrt``: ``sqrt(x)`` (THNN ignores the module's ``eps`` field)."""

    def forward(self, input):
        return input.sqrt()

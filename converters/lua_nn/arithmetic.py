"""Lua element-wise arithmetic modules: MulConstant, AddConstant, Power, Square, Sqrt, Abs, Exp, Log, the
learned Mul, Add, CMul and CAdd, and the gradient-only GradientReversal and L1Penalty.

Every class imports only torch and is self-contained (the standalone
``model.py`` export copies its source); constructor arguments are the Lua
fields as plain literals.
"""

from __future__ import annotations

import torch

__all__ = [
    "Abs",
    "Add",
    "AddConstant",
    "CAdd",
    "CMul",
    "Exp",
    "GradientReversal",
    "L1Penalty",
    "Log",
    "Mul",
    "MulConstant",
    "Power",
    "Sqrt",
    "Square",
]


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


class AddConstant(torch.nn.Module):
    """``nn.AddConstant(constant_scalar, inplace)``: ``x + constant_scalar`` (written into ``x`` when ``inplace``)."""

    def __init__(self, constant_scalar: float, inplace: bool = False) -> None:
        super().__init__()
        self.constant_scalar = constant_scalar
        self.inplace = inplace

    def forward(self, input):
        return input.add_(self.constant_scalar) if self.inplace else input + self.constant_scalar

    def extra_repr(self) -> str:
        return f"constant_scalar={self.constant_scalar!r}, inplace={self.inplace}"


class Abs(torch.nn.Module):
    """``nn.Abs``: ``|x|``."""

    def forward(self, input):
        return input.abs()


class Exp(torch.nn.Module):
    """``nn.Exp``: ``exp(x)``."""

    def forward(self, input):
        return input.exp()


class Log(torch.nn.Module):
    """``nn.Log``: ``log(x)``."""

    def forward(self, input):
        return input.log()


class Mul(torch.nn.Module):
    """``nn.Mul``: ``x * weight[0]``, one learned scalar."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, input):
        return input * self.weight[0]


class Add(torch.nn.Module):
    """``nn.Add(inputSize, scalar)``: ``x + bias``.

    ``scalar`` adds ``bias[0]`` everywhere; an input of the bias's size gets
    it added element-wise; any other input is a batch whose samples, flattened,
    each get the flattened bias added.
    """

    def __init__(self, size: tuple[int, ...], scalar: bool = False) -> None:
        super().__init__()
        self.size = tuple(size)
        self.scalar = scalar
        self.bias = torch.nn.Parameter(torch.zeros(self.size))

    def forward(self, input):
        if self.scalar:
            return input + self.bias.reshape(-1)[0]
        if input.shape == self.bias.shape:
            return input + self.bias
        return (input.reshape(input.size(0), -1) + self.bias.reshape(1, -1)).reshape(input.shape)

    def extra_repr(self) -> str:
        return f"size={self.size}, scalar={self.scalar}"


class CMul(torch.nn.Module):
    """``nn.CMul(size...)``: ``x * weight`` with a learned ``weight`` of the constructor's ``size``.

    An input with as many elements as the weight is multiplied element by
    element (whatever its shape); otherwise a weight with as many dimensions
    as the input is broadcast over it, and any other weight is flattened and
    applied to each flattened sample of a batch.
    """

    def __init__(self, size: tuple[int, ...]) -> None:
        super().__init__()
        self.size = tuple(size)
        self.weight = torch.nn.Parameter(torch.ones(self.size))

    def forward(self, input):
        if input.numel() == self.weight.numel():
            return input * self.weight.reshape(input.shape)
        if input.dim() == self.weight.dim():
            return input * self.weight
        return (input.reshape(input.size(0), -1) * self.weight.reshape(1, -1)).reshape(input.shape)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class CAdd(torch.nn.Module):
    """``nn.CAdd(size...)``: ``x + bias`` with a learned ``bias`` of the constructor's ``size`` (rules of CMul)."""

    def __init__(self, size: tuple[int, ...]) -> None:
        super().__init__()
        self.size = tuple(size)
        self.bias = torch.nn.Parameter(torch.zeros(self.size))

    def forward(self, input):
        if input.numel() == self.bias.numel():
            return input + self.bias.reshape(input.shape)
        if input.dim() == self.bias.dim():
            return input + self.bias
        return (input.reshape(input.size(0), -1) + self.bias.reshape(1, -1)).reshape(input.shape)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class GradientReversal(torch.nn.Module):
    """``nn.GradientReversal(lambda)``: the identity forward; backward multiplies the gradient by ``-lambda``."""

    def __init__(self, lambd: float = 1.0) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        output = input.view_as(input)
        if output.requires_grad:
            output.register_hook(lambda grad: grad * -self.lambd)
        return output

    def extra_repr(self) -> str:
        return f"lambd={self.lambd!r}"


class L1Penalty(torch.nn.Module):
    """``nn.L1Penalty(l1weight, sizeAverage, provideOutput)``: the identity forward; backward adds the gradient of
    ``l1weight * sum|x|`` (divided by the element count with ``size_average``), to the incoming gradient only when
    ``provide_output`` (without it Lua ignores the gradient from above)."""

    def __init__(self, l1weight: float, size_average: bool = False, provide_output: bool = True) -> None:
        super().__init__()
        self.l1weight = l1weight
        self.size_average = size_average
        self.provide_output = provide_output

    def forward(self, input):
        output = input.view_as(input)
        if output.requires_grad:
            weight = self.l1weight / input.numel() if self.size_average else self.l1weight
            signs = input.detach().sign()
            output.register_hook(lambda grad: signs * weight + (grad if self.provide_output else 0))
        return output

    def extra_repr(self) -> str:
        return f"l1weight={self.l1weight!r}, size_average={self.size_average}, provide_output={self.provide_output}"

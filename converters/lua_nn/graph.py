"""nngraph's ``nn.gModule``: a directed acyclic graph of modules, evaluated in Lua's topological order.

Self-contained and torch-only (the standalone ``model.py`` export copies its
source); the graph is plain literals.
"""

from __future__ import annotations

import torch

__all__ = ["Graph"]


class Graph(torch.nn.Module):
    """``nn.gModule(inputs, outputs)``: the modules of an nngraph graph, run node by node.

    ``nodes`` lists the graph's nodes in the order Lua evaluates them
    (``gModule.forwardnodes``), each as ``(module, inputs, select)``:
    ``module`` is the index of the child it runs (``-1`` for none),
    ``inputs`` the positions (in ``nodes``) of the nodes feeding it, in the
    order of its input table, and ``select`` a 1-based index into its single
    input's table (``0`` for none; nngraph's ``split`` nodes). A node with one
    input receives it as is, one with several the list of them; a node
    without a module passes that on. Node ``input_node`` is fed the forward's
    input (a list when ``num_inputs > 1``); the value of ``output_node`` is
    the result (a list for several outputs). Children are named ``"0"``,
    ``"1"``, ... in the order of the Lua ``gModule.modules`` list.
    """

    def __init__(
        self,
        *modules: torch.nn.Module,
        nodes: list[tuple[int, list[int], int]],
        input_node: int,
        output_node: int,
        num_inputs: int = 1,
    ) -> None:
        super().__init__()
        self.nodes = [(int(module), [int(item) for item in inputs], int(select)) for module, inputs, select in nodes]
        self.input_node = input_node
        self.output_node = output_node
        self.num_inputs = num_inputs
        for index, module in enumerate(modules):
            self.add_module(str(index), module)
        last_use = {}
        for position, (_, inputs, _) in enumerate(self.nodes):
            for item in inputs:
                last_use[item] = position
        self._release = [
            [item for item in inputs if last_use[item] == position]
            for position, (_, inputs, _) in enumerate(self.nodes)
        ]

    def forward(self, input):
        if self.num_inputs > 1 and len(input) != self.num_inputs:
            raise ValueError(f"expected a table of {self.num_inputs} inputs, got {len(input)}")
        modules = list(self._modules.values())
        values = {}
        for position, (module, inputs, select) in enumerate(self.nodes):
            if position == self.input_node:
                value = input
            else:
                arguments = [values[item] for item in inputs]
                if select:
                    value = arguments[0][select - 1]
                else:
                    value = arguments[0] if len(arguments) == 1 else arguments
                    if module >= 0:
                        value = modules[module](value)
            for item in self._release[position]:
                if item != self.output_node:
                    values.pop(item, None)
            values[position] = value
        return values[self.output_node]

    def extra_repr(self) -> str:
        return (
            f"nodes={self.nodes}, input_node={self.input_node}, output_node={self.output_node}, "
            f"num_inputs={self.num_inputs}"
        )

"""Translator of nngraph's ``nn.gModule`` into ``lua_nn.Graph``.

How a gModule is serialised (nngraph 3ed3b9b, graph 37dac07): ``modules`` lists
the node modules (in ``forwardnodes`` order); ``forwardnodes`` is the
topologically sorted list of ``nngraph.Node`` objects of the forward graph;
each node's ``data`` table (shared by the forward and backward graph's nodes)
holds ``module`` (absent for the input, output and split nodes),
``mapindex`` (a list of the *data tables* of the nodes feeding it, in the
order of its input table, plus the reverse map) and, for the nodes nngraph's
``split`` makes, ``selectindex`` (1-based) or ``nSplitOutputs``. ``innode`` and
``outnode`` are the graph's input and output nodes; ``nInputs`` the number of
inputs (``#innode.children`` in files without it). Node modules keep the
names of the container's ``modules`` list (``"0"``, ``"1"``, ...).
"""

from __future__ import annotations

from typing import Any

import torch

from converters import lua_nn, t7
from converters.errors import ConversionError
from converters.lua_modules import describe
from converters.translate.context import TranslationContext
from converters.translate.registry import translates


@translates("nn.gModule")
def translate_gmodule(lua_module, ctx: TranslationContext) -> torch.nn.Module:
    modules = ctx.children()
    module_index: dict[int, int] = {}
    for index, (lua_child, _) in enumerate(ctx.lua_children()):
        module_index.setdefault(id(lua_child), index)
    forward_nodes = ctx.value("forwardnodes")
    if not isinstance(forward_nodes, t7.T7Table) or not forward_nodes.is_list() or not forward_nodes:
        raise ctx.error(f"expected a list of nngraph nodes in field 'forwardnodes', found {describe(forward_nodes)}")
    positions: dict[int, int] = {}
    nodes = []
    for position, node in enumerate(forward_nodes.as_list()):
        where = f"{ctx.path}.forwardnodes[{position + 1}]"
        data = _node_data(node, where)
        if id(data) in positions:
            raise ConversionError("this node appears twice in forwardnodes", where)
        inputs = []
        for predecessor in _list_part(data.get("mapindex", t7.T7Table()), f"{where}.data.mapindex"):
            if id(predecessor) not in positions:
                raise ConversionError(
                    "an input of this node is not evaluated before it (forwardnodes is not topologically sorted)", where
                )
            inputs.append(positions[id(predecessor)])
        nodes.append((_module_of(data, module_index, where), inputs, _select_of(data, inputs, where)))
        positions[id(data)] = position
    input_node = _position(ctx, "innode", positions)
    if nodes[input_node][1]:
        raise ConversionError("the graph's input node has inputs itself", f"{ctx.path}.innode")
    default_inputs = len(_list_part(ctx.value("innode").get("children"), f"{ctx.path}.innode.children"))
    return lua_nn.Graph(
        *modules,
        nodes=nodes,
        input_node=input_node,
        output_node=_position(ctx, "outnode", positions),
        num_inputs=ctx.int("nInputs", max(default_inputs, 1), minimum=1),
    )


def _node_data(node: Any, where: str) -> t7.T7Table:
    if not isinstance(node, t7.T7Object) or node.typename != "nngraph.Node" or not isinstance(node.fields, dict):
        raise ConversionError(f"expected an nngraph.Node, found {describe(node)}", where)
    data = node.get("data")
    if not isinstance(data, t7.T7Table):
        raise ConversionError(f"expected the node's 'data' to be a table, found {describe(data)}", where)
    return data


def _list_part(table: Any, where: str) -> list[Any]:
    """The values at keys 1..n of a Lua table that also maps objects to their positions (``mapindex``, ``children``)."""
    if not isinstance(table, t7.T7Table):
        raise ConversionError(f"expected a table, found {describe(table)}", where)
    count = sum(1 for key in table if type(key) is int)
    if any(index not in table for index in range(1, count + 1)):
        raise ConversionError(
            f"expected list entries 1..{count}, found keys {sorted(k for k in table if type(k) is int)}", where
        )
    return [table[index] for index in range(1, count + 1)]


def _module_of(data: t7.T7Table, module_index: dict[int, int], where: str) -> int:
    """The index in gModule.modules of the node's module, -1 for a node without one."""
    module = data.get("module")
    if module is None:
        return -1
    if id(module) not in module_index:
        raise ConversionError(f"the node's module ({describe(module)}) is not in the gModule's modules list", where)
    return module_index[id(module)]


def _select_of(data: t7.T7Table, inputs: list[int], where: str) -> int:
    """The node's 1-based ``selectindex`` into its one input's table, 0 for a node that is not a split output."""
    select = data.get("selectindex")
    if select is None:
        return 0
    if isinstance(select, bool) or not isinstance(select, int) or select < 1 or data.get("module") is not None:
        raise ConversionError(f"expected a positive selectindex on a node without module, found {select!r}", where)
    if len(inputs) != 1:
        raise ConversionError(f"expected a split output node to have one input, found {len(inputs)}", where)
    return select


def _position(ctx: TranslationContext, name: str, positions: dict[int, int]) -> int:
    """The position in forwardnodes of the node in field ``name`` (``innode``/``outnode``)."""
    data = _node_data(ctx.value(name), f"{ctx.path}.{name}")
    if id(data) not in positions:
        raise ctx.error(f"the gModule's {name} is not among its forwardnodes")
    return positions[id(data)]

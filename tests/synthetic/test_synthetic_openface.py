"""OpenFace nn4.small2 trees from ``converters.synthetic.openface``: the January 2016 definition, the layout its
training code saved, and parity of ``load_module`` with the independent interpreter."""

from __future__ import annotations

import functools

import pytest
import torch
from synthetic_checks import assert_parity, field_differences, modules_of, round_trip, trap_gradients

from converters import load_module, t7
from converters.synthetic.openface import openface_checkpoint
from converters.translate import translate

#: models/openface/nn4.small2.def.lua (9d1bd99): "Number of Parameters from net:getParameters() with
#: embSize=128: 3733968".
PARAMETERS = 3_733_968


@functools.cache
def _saved() -> t7.T7Object:
    return round_trip(openface_checkpoint(seed=4, batch_size=6))


@pytest.mark.parametrize("batch", [2, 1])
def test_load_module_matches_the_interpreter(batch: int) -> None:
    images = torch.rand(batch, 3, 96, 96, generator=torch.Generator().manual_seed(batch), dtype=torch.float64)
    embeddings = assert_parity(_saved(), images)
    # nn.View(736) without setNumInputDims drops a batch of one: Lua returns a 128-vector then.
    assert embeddings.shape == ((2, 128) if batch == 2 else (128,))
    torch.testing.assert_close(embeddings.reshape(batch, 128).norm(dim=1), torch.ones(batch, dtype=torch.float64))


def test_parameter_count_is_the_published_one() -> None:
    root = _saved()
    flat = {
        id(m["weight"].storage): m["weight"].storage
        for m in modules_of(root)
        if m.typename != "nn.SpatialConvolutionMM" and "weight" in m
    }
    assert [storage.size for storage in flat.values()] == [PARAMETERS]  # the replaced convolutions' stay in it
    assert translate(root).report.num_parameters == PARAMETERS


def test_january_2016_definition() -> None:
    modules = _saved()["modules"].as_list()
    names = [lua_module.typename for lua_module in modules]
    assert names.count("nn.Inception") == 7 and names[-6:] == [
        "nn.Inception",
        "nn.SpatialAveragePooling",
        "nn.Reshape",
        "nn.View",
        "nn.Linear",
        "nn.Normalize",
    ]
    assert modules[names.index("nn.Reshape")]["size"].numpy().tolist() == [736, 3, 3]
    inceptions = [lua_module for lua_module in modules if lua_module.typename == "nn.Inception"]
    for inception in inceptions:
        (concat,) = inception["modules"].as_list()
        assert concat.typename == "nn.DepthConcat" and inception["module"] is concat
        pool = concat["modules"][len(inception["kernelSize"]) + 1]["modules"][1]
        if pool.typename == "nn.SpatialMaxPooling":  # 3x3/2 without padding; the field keeps the original module
            assert (pool["kW"], pool["dW"], pool["padW"]) == (3, 2, 0) and inception["pool"] is not pool
        else:  # LP pooling, stride 3: Square, SpatialAveragePooling, MulConstant(kW*kH), Sqrt
            children = [child.typename for child in pool["modules"].as_list()]
            assert children == ["nn.Square", "nn.SpatialAveragePooling", "nn.MulConstant", "nn.Sqrt"]
            assert (pool["kW"], pool["dW"], pool["modules"][3]["constant_scalar"]) == (3, 3, 9)
            assert inception["pool"] is pool
    sizes = [inception["modules"][1]["size"].numpy().tolist()[1:] for inception in inceptions]
    assert sizes == [[256, 12, 12], [320, 12, 12], [640, 6, 6], [640, 6, 6], [1024, 3, 3], [736, 3, 3], [736, 3, 3]]
    assert modules[0].typename == "nn.SpatialConvolutionMM" and modules[0]["weight"].size == (64, 3 * 7 * 7)


#: What nn and dpnn of January 2016 (and modules made fresh after training) keep that the 2017 fixtures do not,
#: and the reverse: Concat's ``size`` became ``outputSize``; Decorator's ``module`` field went; modules made by
#: ``cudnn_to_nn`` after the last ``training()`` have no ``train`` and never ran forward (no pooling sizes);
#: Reshape made its buffers in the constructor; Normalize's backward buffers survive ``sanitize``.
ERA_2016 = {
    "nn.DepthConcat": {"size", "outputSize"},
    "nn.Inception": {"module", "batchNorm"},
    "nn.SpatialConvolutionMM": {"train"},
    "nn.ReLU": {"train"},
    "nn.SpatialMaxPooling": {"train", "iheight", "iwidth"},
    "nn.SpatialAveragePooling": {"train"},
    "nn.SpatialCrossMapLRN": {"train"},
    "nn.Reshape": {"_input", "_gradOutput"},
    "nn.Normalize": {"_gradInput", "buffer2", "cross"},
}


def test_tree_has_the_fields_of_genuine_files_up_to_their_era() -> None:
    assert field_differences(_saved(), ERA_2016) == {}


def test_gradient_storages_are_never_read() -> None:
    root = round_trip(openface_checkpoint(seed=5, batch_size=2))
    images = torch.rand(2, 3, 96, 96, dtype=torch.float64)
    expected = load_module(root).eval()(images.float()).detach()
    assert trap_gradients(root) == 2 * 75  # stem 6, Inceptions 68, Linear 1
    with torch.no_grad():
        assert torch.equal(load_module(root).eval()(images.float()), expected)

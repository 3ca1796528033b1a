"""The object model on known genuine files (values cross-checked with torchfile and the JSON metadata)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torchfile
from fixtures import fixture_path

from converters import t7


def test_floattensor_values_match_torchfile() -> None:
    path = fixture_path("torch7", "torchfile", "floattensor.t7")
    tensor = t7.load(path)
    assert isinstance(tensor, t7.T7Tensor)
    assert tensor.typename == "torch.FloatTensor"
    assert tensor.size == tensor.shape == (2, 3, 4)
    assert tensor.stride == (12, 4, 1)
    assert tensor.storage_offset == 0
    assert tensor.dtype == np.float32
    assert tensor.numel() == 24
    values = tensor.numpy()
    assert not values.flags.writeable
    np.testing.assert_array_equal(values, torchfile.load(str(path)))
    torch_tensor = tensor.torch()
    assert torch_tensor.is_contiguous() and tuple(torch_tensor.shape) == (2, 3, 4)
    torch_tensor += 1  # own memory: the file view is untouched
    np.testing.assert_array_equal(tensor.numpy(), values)


def test_doubletensor() -> None:
    path = fixture_path("torch7", "torchfile", "doubletensor.t7")
    tensor = t7.load(path)
    assert tensor.typename == "torch.DoubleTensor" and tensor.dtype == np.float64
    np.testing.assert_array_equal(tensor.numpy(), torchfile.load(str(path)))


def test_hello_table() -> None:
    table = t7.load(fixture_path("torch7", "torchfile", "hello=123.t7"))
    assert isinstance(table, t7.T7Table)
    assert table == {"hello": 123}
    assert type(table["hello"]) is int


def test_list_and_map_tables_stay_tables() -> None:
    listing = t7.load(fixture_path("torch7", "torchfile", "list_table.t7"))
    assert isinstance(listing, t7.T7Table) and listing.is_list()
    assert listing.as_list() == ["hello", "world", "third item", 123]
    mapping = t7.load(fixture_path("torch7", "torchfile", "map_table2.t7"))
    assert isinstance(mapping, t7.T7Table) and not mapping.is_list()
    with pytest.raises(ValueError):
        mapping.as_list()


def test_cyclic_references_are_the_same_objects() -> None:
    table = t7.load(fixture_path("torch7", "torchfile", "recursive_kv_table.t7"))
    ((key, value),) = table.items()
    assert key is table and value is table
    instance = t7.load(fixture_path("torch7", "torchfile", "recursive_class.t7"))
    assert isinstance(instance, t7.T7Object) and instance.typename == "A" and instance.version == 1
    assert instance["a"] is instance


def test_custom_class_and_functions() -> None:
    instance = t7.load(fixture_path("torch7", "torchfile", "custom_class.t7"))
    assert instance.typename == "Blah" and instance.version == 1
    function = t7.load(fixture_path("torch7", "torchfile", "function_upvals.t7"))
    assert isinstance(function, t7.T7Function) and function.dumped.startswith(b"\x1bLJ")
    assert function.upvalues.as_list() == [{"name": "asdf", "value": 123}]


def test_tds_containers() -> None:
    hashed = t7.load(fixture_path("torch7", "torchfile", "tds_hash.t7"))
    assert hashed.typename == "tds.Hash" and hashed.version == 0
    assert dict(hashed.fields) == {1: 2, 2: 3, 10: 11}
    vector = t7.load(fixture_path("torch7", "torchfile", "tds_vec.t7"))
    assert vector.typename == "tds.Vec" and vector.fields.as_list() == [123, 456]


@pytest.mark.parametrize("name", ["tiny_std", "tiny_custom"])
def test_densenet_checkpoint_structure(name: str) -> None:
    path = fixture_path("torch7", "densenet", f"{name}.t7")
    model = t7.load(path)
    assert isinstance(model, t7.T7Object) and model.typename == "nn.Sequential"
    modules = model["modules"].as_list()
    conv = modules[0]
    assert conv.typename == "cudnn.SpatialConvolution" and conv.version == 1
    assert "bias" not in conv and "weight" in conv
    weight, grad = conv["weight"], conv.get("gradWeight")
    metadata = json.loads(fixture_path("torch7", "densenet", f"{name}.json").read_text())
    growth = metadata["growthRate"]
    assert weight.typename == "torch.FloatTensor"
    assert weight.size == (2 * growth, 3, 7, 7)
    assert weight.stride == (147, 49, 7, 1)
    assert weight.storage_offset == 0 and grad.storage_offset == 0
    # weights and gradients are views into two distinct flat storages (getParameters)
    assert weight.storage is not grad.storage
    assert weight.storage.size == grad.storage.size > weight.numel()
    reference = torchfile.load(str(path))
    np.testing.assert_array_equal(weight.numpy(), reference.modules[0].weight)
    np.testing.assert_array_equal(grad.numpy(), reference.modules[0].gradWeight)

    bn = modules[1]
    assert bn.typename == "cudnn.SpatialBatchNormalization" and bn.version == 2
    assert bn["weight"].storage is weight.storage
    assert bn["weight"].storage_offset == weight.numel()
    assert bn["running_var"].storage is not weight.storage
    assert bn["eps"] == pytest.approx(1e-5)
    assert bn["train"] is True


def test_every_weight_shares_one_storage() -> None:
    model = t7.load(fixture_path("torch7", "densenet", "tiny_std.t7"))
    weights = {
        id(value.fields["weight"].storage)
        for value in t7.iter_tree(model)
        if isinstance(value, t7.T7Object) and isinstance(value.get("weight"), t7.T7Tensor)
    }
    grads = {
        id(value.fields["gradWeight"].storage)
        for value in t7.iter_tree(model)
        if isinstance(value, t7.T7Object) and isinstance(value.get("gradWeight"), t7.T7Tensor)
    }
    assert len(weights) == 1 and len(grads) == 1 and weights != grads


def test_input_tensor_matches_raw_f32() -> None:
    tensor = t7.load(fixture_path("torch7", "densenet", "tiny_std.input.t7"))
    raw = np.fromfile(fixture_path("torch7", "densenet", "tiny_std.input.f32"), dtype="<f4")
    assert tensor.size == (2, 3, 224, 224)
    np.testing.assert_array_equal(tensor.numpy().reshape(-1), raw)

"""The writer: every tensor/storage type, shared views, numbers, classes, atomic saves."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import torch
import torchfile
from t7_bytes import i32, raw_string

from converters import t7

ELEMENT_VALUES = {
    np.dtype("<u1"): [0, 1, 255, 128],
    np.dtype("<i1"): [-128, 0, 1, 127],
    np.dtype("<i2"): [-32768, 0, 7, 32767],
    np.dtype("<i4"): [-(2**31), 0, 9, 2**31 - 1],
    np.dtype("<i8"): [-(2**63), 0, 2**40 + 3, 2**63 - 1],
    np.dtype("<f4"): [-1.5, 0.0, 3.25, 1e30],
    np.dtype("<f8"): [-1e300, 0.0, 1 / 3, 2.5],
    np.dtype("<f2"): [-2.0, 0.0, 0.5, 65504.0],
}


@pytest.mark.parametrize("typename", sorted(t7.TENSOR_DTYPES))
def test_every_tensor_type_round_trips_and_keeps_its_name(typename: str) -> None:
    dtype = t7.TENSOR_DTYPES[typename]
    values = np.array(ELEMENT_VALUES[dtype] * 3, dtype=dtype).reshape(3, 4)
    blob = t7.dumps(t7.T7Tensor.from_numpy(values, typename))
    loaded = t7.loads(blob)
    assert loaded.typename == typename
    assert loaded.storage.typename == typename.replace("Tensor", "Storage")
    assert loaded.dtype == dtype and loaded.size == (3, 4) and loaded.stride == (4, 1)
    np.testing.assert_array_equal(loaded.numpy(), values)
    # the payload is the last 12 elements of the file, little-endian, at the element's width (longs: 8 bytes)
    assert blob[-12 * dtype.itemsize :] == values.astype(dtype).tobytes()
    assert struct.unpack("<q", blob[-12 * dtype.itemsize - 8 : -12 * dtype.itemsize])[0] == 12
    assert t7.dumps(loaded) == blob
    copied = loaded.torch()
    assert copied.dtype == torch.from_numpy(values).dtype and copied.shape == (3, 4)


def test_torchfile_reads_what_we_write(tmp_path) -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "written.t7"
    for typename in ["torch.CudaTensor", "torch.CudaDoubleTensor", "torch.LongTensor", "torch.ByteTensor"]:
        t7.save(t7.T7Tensor.from_numpy(values, typename), path)
        np.testing.assert_array_equal(torchfile.load(str(path)), values)
    t7.save(t7.T7Object("nn.Linear", {"weight": t7.T7Tensor.from_numpy(values), "train": True}), path)
    module = torchfile.load(str(path))
    assert module.torch_typename() == b"nn.Linear" and module[b"train"] is True


def test_shared_storage_views_stay_shared() -> None:
    flat = np.arange(20, dtype=np.float32)
    storage = t7.T7Storage.from_numpy(flat)
    grads = t7.T7Storage.from_numpy(-flat)
    weight = t7.T7Tensor("torch.FloatTensor", (2, 3), (3, 1), 4, storage)
    transposed = t7.T7Tensor("torch.FloatTensor", (3, 2), (1, 3), 4, storage)
    strided = t7.T7Tensor("torch.FloatTensor", (4,), (5,), 1, storage)
    grad = t7.T7Tensor("torch.FloatTensor", (2, 3), (3, 1), 4, grads)
    module = t7.T7Object("nn.Linear", {"weight": weight, "w2": transposed, "s": strided, "gradWeight": grad})
    loaded = t7.loads(t7.dumps(module))
    assert loaded["weight"].storage is loaded["w2"].storage is loaded["s"].storage
    assert loaded["gradWeight"].storage is not loaded["weight"].storage
    np.testing.assert_array_equal(loaded["weight"].numpy(), flat[4:10].reshape(2, 3))
    np.testing.assert_array_equal(loaded["w2"].numpy(), flat[4:10].reshape(2, 3).T)
    np.testing.assert_array_equal(loaded["s"].numpy(), flat[1::5])
    assert not loaded["w2"].numpy().flags.writeable
    assert loaded["w2"].torch().is_contiguous()
    assert loaded["weight"].storage_offset == 4


def test_numbers_strings_booleans_tables() -> None:
    key_table = t7.T7Table({"k": 1})
    value = t7.T7Table(
        {
            1: 2**53,
            2: -7,
            3: 0.1,
            4: -0.0,
            5: float("inf"),
            "yes": True,
            "no": False,
            "text": "héllo",
            "raw": b"\xff\x00",
            key_table: "by table",
            2.5: "float key",
            "list": [1, "two", 3.0],
            "tuple": ("a",),
            "np": np.float32(0.5),
            "npint": np.int64(4),
            "npbool": np.bool_(True),
            "dropped": None,
        }
    )
    loaded = t7.loads(t7.dumps(value))
    assert loaded[1] == 2**53 and type(loaded[1]) is int
    assert loaded[2] == -7 and loaded[3] == 0.1
    assert type(loaded[4]) is float and str(loaded[4]) == "-0.0"
    assert loaded[5] == float("inf")
    assert loaded["yes"] is True and loaded["no"] is False
    assert loaded["text"] == "héllo" and loaded["raw"] == b"\xff\x00"
    assert loaded[2.5] == "float key"
    assert loaded["list"].as_list() == [1, "two", 3] and loaded["tuple"].as_list() == ["a"]
    assert loaded["np"] == 0.5 and loaded["npint"] == 4 and loaded["npbool"] is True
    assert "dropped" not in loaded
    (table_key,) = [key for key in loaded if isinstance(key, t7.T7Table)]
    assert table_key == {"k": 1} and loaded[table_key] == "by table"


@pytest.mark.parametrize("bad", [2**53 + 1, 10**400, object(), {None: 1}, "\ud800", np.zeros(3)])
def test_unwritable_values_raise_write_errors(bad) -> None:
    with pytest.raises(t7.T7WriteError) as caught:
        t7.dumps(t7.T7Table({"field": t7.T7Table({"inner": bad})}))
    assert "['field']" in str(caught.value)


def test_class_versions_and_legacy_headers() -> None:
    modern = t7.T7Object("cudnn.SpatialBatchNormalization", {"eps": 1e-5}, version=2)
    blob = t7.dumps(modern)
    assert raw_string("V 2") + raw_string("cudnn.SpatialBatchNormalization") in blob
    assert t7.loads(blob).version == 2
    legacy = t7.T7Object("nn.Old", {"x": 1}, version=0, version_string="")
    blob = t7.dumps(legacy)
    assert blob.startswith(i32(4) + i32(1) + raw_string("nn.Old"))
    loaded = t7.loads(blob)
    assert (loaded.typename, loaded.version, loaded.version_string) == ("nn.Old", 0, "")
    odd = t7.loads(t7.dumps(t7.T7Object("nn.Odd", {}, version=1, version_string="V 1.5")))
    assert odd.version == 1 and odd.version_string == "V 1.5"


def test_tds_and_functions_round_trip() -> None:
    hashed = t7.T7Object("tds.Hash", {"a": 1, 2: "b"}, version=0)
    vector = t7.T7Object("tds.Vec", {1: "x", 2: 3}, version=0)
    function = t7.T7Function(b"\x1bLJbytecode", t7.T7Table({1: t7.T7Table({"name": "up", "value": hashed})}))
    loaded = t7.loads(t7.dumps(t7.T7Table({"h": hashed, "v": vector, "f": function})))
    assert dict(loaded["h"].fields) == {"a": 1, 2: "b"}
    assert loaded["v"].fields.as_list() == ["x", 3]
    assert loaded["f"].dumped == b"\x1bLJbytecode"
    assert loaded["f"].upvalues[1]["value"] is loaded["h"]


def test_constructor_validation() -> None:
    storage = t7.T7Storage.from_numpy(np.zeros(6, dtype=np.float32))
    with pytest.raises(ValueError, match="reaching element 6"):
        t7.T7Tensor("torch.FloatTensor", (7,), (1,), 0, storage)
    with pytest.raises(ValueError, match="under a torch.DoubleTensor"):
        t7.T7Tensor("torch.DoubleTensor", (2,), (1,), 0, storage)
    with pytest.raises(ValueError, match="unknown tensor class"):
        t7.T7Tensor("torch.BoolTensor", (2,), (1,), 0, storage)
    with pytest.raises(TypeError):
        t7.T7Tensor.from_numpy(np.zeros(2, dtype=np.complex64))
    empty = t7.T7Tensor("torch.FloatTensor", (), (), 0, None)
    assert empty.numel() == 0 and empty.numpy().shape == (0,)
    assert t7.T7Tensor.from_numpy(np.zeros((0, 3), dtype=np.float32)).size == ()


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path) -> None:
    path = tmp_path / "model.t7"
    t7.save(t7.T7Table({"version": 1}), path)
    before = path.read_bytes()
    with pytest.raises(t7.T7WriteError):
        t7.save(t7.T7Table({"version": 2, "bad": object()}), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.t7"]
    path.chmod(0o640)
    t7.save(t7.T7Table({"version": 3}), path)
    assert path.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions
    assert t7.load(path) == {"version": 3}


def test_save_over_the_file_being_read_lazily(tmp_path) -> None:
    path = tmp_path / "model.t7"
    values = np.arange(1000, dtype=np.float32)
    t7.save(t7.T7Table({"w": t7.T7Tensor.from_numpy(values)}), path)
    lazy = t7.load(path)
    lazy["extra"] = "added"
    t7.save(lazy, path)  # reads payloads from the old mapping while writing the new file
    reloaded = t7.load(path, lazy=False)
    assert reloaded["extra"] == "added"
    np.testing.assert_array_equal(reloaded["w"].numpy(), values)
    np.testing.assert_array_equal(lazy["w"].numpy(), values)


def test_writer_depth_limit() -> None:
    nested = t7.T7Table()
    for _ in range(300):
        nested = t7.T7Table({1: nested})
    with pytest.raises(t7.T7WriteError, match="nested"):
        t7.dumps(nested)
    assert isinstance(t7.loads(t7.dumps(nested, max_depth=400), max_depth=400), t7.T7Table)

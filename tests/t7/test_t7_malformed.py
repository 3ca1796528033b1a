"""Malformed and hostile input: only T7FormatError, quickly, without big allocations or hangs."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from fixtures import fixture_path
from t7_bytes import i32, number, storage, string, table_header, tensor_header, torch_header

from converters import t7

SMALL_GENUINE = [
    "floattensor.t7",
    "function_upvals.t7",
    "recursive_class.t7",
    "recursive_kv_table.t7",
    "nngraph_node.t7",
    "tds_hash.t7",
    "tds_vec.t7",
    "map_table2.t7",
    "custom_class.t7",
]


def writer_made_sample() -> bytes:
    """A small file with every kind of value our writer knows (made by our writer)."""
    table = t7.T7Table(
        {
            "int": 3,
            "float": 1.5,
            "negzero": -0.0,
            "flag": True,
            "bytes": b"\xff\x00",
            7: "seven",
            "half": t7.T7Tensor.from_numpy(np.arange(6, dtype=np.float16).reshape(2, 3), "torch.CudaHalfTensor"),
            "long": t7.T7Tensor.from_numpy(np.arange(4, dtype=np.int64), "torch.CudaLongTensor"),
            "bytes_storage": t7.T7Storage.from_numpy(np.arange(3, dtype=np.uint8)),
            "function": t7.T7Function(b"\x1bLJ\x01fake", t7.T7Table({1: t7.T7Table({"name": "x", "value": 2})})),
            "hash": t7.T7Object("tds.Hash", {"k": 1}, version=0),
        }
    )
    table["self"] = table
    table[t7.T7Table({"key": "table"})] = "table-keyed"
    return t7.dumps(t7.T7Object("nn.Thing", {"payload": table}))


def assert_format_error_or_value(blob: bytes) -> None:
    try:
        t7.loads(blob)
    except t7.T7FormatError as error:
        assert 0 <= error.offset <= len(blob)
        assert "expected" in str(error) and f"byte {error.offset}" in str(error)


@pytest.mark.parametrize("name", SMALL_GENUINE)
def test_truncation_at_every_offset_is_a_format_error(name: str) -> None:
    blob = fixture_path("torch7", "torchfile", name).read_bytes()
    for cut in range(len(blob)):
        with pytest.raises(t7.T7FormatError) as caught:
            t7.loads(blob[:cut])
        assert 0 <= caught.value.offset <= cut


def test_truncation_at_every_offset_of_a_writer_made_file() -> None:
    blob = writer_made_sample()
    assert t7.dumps(t7.loads(blob)) == blob
    for cut in range(len(blob)):
        with pytest.raises(t7.T7FormatError):
            t7.loads(blob[:cut])


def test_truncated_checkpoint_file_reports_the_missing_payload(tmp_path) -> None:
    blob = fixture_path("torch7", "densenet", "tiny_std.t7").read_bytes()
    rng = random.Random(1)
    for cut in [0, 3, 100, 5000, len(blob) // 2, len(blob) - 1, *rng.sample(range(len(blob)), 20)]:
        path = tmp_path / f"cut{cut}.t7"
        path.write_bytes(blob[:cut])
        with pytest.raises(t7.T7FormatError) as caught:
            t7.load(path)
        assert str(path) in str(caught.value)


@pytest.mark.parametrize("source", ["gmodule_with_linear_identity.t7", "nngraph_node.t7", "writer"])
def test_random_byte_flips_give_only_format_errors(source: str) -> None:
    if source == "writer":
        blob = writer_made_sample()
    else:
        blob = fixture_path("torch7", "torchfile", source).read_bytes()
    rng = random.Random(20261125)
    for _ in range(150):
        mutated = bytearray(blob)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(mutated))
            if rng.random() < 0.6:
                mutated[position] ^= 1 << rng.randrange(8)
            else:
                mutated[position : position + 4] = rng.choice([i32(-1), i32(2**31 - 1), i32(0), i32(4), i32(-(2**31))])
        assert_format_error_or_value(bytes(mutated))


def test_absurd_storage_size_fails_fast_without_allocating() -> None:
    blob = storage(1, 2**60, b"\x00" * 16)
    start = time.perf_counter()
    with pytest.raises(t7.T7FormatError) as caught:
        t7.loads(blob)
    assert time.perf_counter() - start < 0.5
    assert caught.value.offset == len(torch_header(1, "torch.FloatStorage"))
    assert "torch.FloatStorage size" in caught.value.expected


MALFORMED = [
    (b"", "type id"),
    (i32(9), "a type id"),
    (i32(-3), "a type id"),
    (storage(1, -5, b""), "non-negative"),
    (storage(1, 4, b"\x00" * 15), "fit in the 15 bytes left"),
    (table_header(1, -1), "non-negative table size"),
    (table_header(1, 2**31 - 1), "table size"),
    (table_header(1, 1) + i32(0) + number(1), "a table key"),
    (table_header(1, 2) + string("a") + number(1) + string("a") + number(2), "2 distinct table keys"),
    (i32(2) + i32(-7), "string length"),
    (i32(2) + i32(1000) + b"abc", "string length"),
    (torch_header(1, "torch.FloatTensor")[:-3], "class name"),
    (tensor_header(1, (2,), (1,), 1)[:-10], "tensor dimension count"),
    (torch_header(1, "torch.FloatTensor") + i32(-1), "tensor dimension count"),
    (torch_header(1, "torch.FloatTensor") + i32(2**30), "tensor dimension count"),
    (tensor_header(1, (4,), (1,), 1) + storage(2, 3, b"\x00" * 12), "view inside its storage"),
    (tensor_header(1, (2, 2), (2, -1), 3) + storage(2, 8, b"\x00" * 32), "view inside its storage"),
    (tensor_header(1, (2,), (1,), 0) + storage(2, 8, b"\x00" * 32), "view inside its storage"),
    (tensor_header(1, (2,), (1,), 1) + storage(2, 2, b"\x00" * 16, "torch.DoubleStorage"), "view inside"),
    (tensor_header(1, (2,), (1,), 1) + number(3), "view inside"),
    (tensor_header(1, (2,), (1,), 1) + i32(0), "view inside"),
    (tensor_header(1, (2,), (1,), 1) + i32(4) + i32(1), "finished object"),
    (torch_header(1, "nn.Module") + number(3), "instance table"),
    (torch_header(1, "torch.FloatTensor", version="V x"), "class version number"),
    (torch_header(1, "", version="V 1") + table_header(2, 0), "class name"),
    (number(1) + b"\x00", "end of the file"),
    (i32(8) + i32(1) + i32(-4), "function bytecode length"),
]


@pytest.mark.parametrize(
    "blob, expected", MALFORMED, ids=[f"{number}-{expected}" for number, (_, expected) in enumerate(MALFORMED)]
)
def test_handcrafted_malformed_records(blob: bytes, expected: str) -> None:
    with pytest.raises(t7.T7FormatError) as caught:
        t7.loads(blob)
    assert expected in str(caught.value)


def test_very_deep_nesting_is_bounded() -> None:
    depth = 100_000
    blob = b"".join(table_header(index, 1) + number(1) for index in range(1, depth + 1)) + number(0)
    start = time.perf_counter()
    with pytest.raises(t7.T7FormatError) as caught:
        t7.loads(blob)
    assert time.perf_counter() - start < 1.0
    assert "nested" in str(caught.value)
    # the limit is a parameter
    shallow = b"".join(table_header(index, 1) + number(1) for index in range(1, 31)) + number(0)
    assert isinstance(t7.loads(shallow), t7.T7Table)
    with pytest.raises(t7.T7FormatError):
        t7.loads(shallow, max_depth=20)


def test_legitimately_deep_module_tree_loads_and_round_trips(tmp_path) -> None:
    """60 nested nn.Sequential (180 Lua nesting levels): deeper than any real DenseNet."""
    leaf = t7.T7Object("cudnn.ReLU", {"inplace": True, "output": t7.T7Tensor("torch.FloatTensor", (), (), 0, None)})
    module = leaf
    for _ in range(60):
        module = t7.T7Object("nn.Sequential", {"modules": t7.T7Table({1: module}), "train": True})
    path = tmp_path / "deep.t7"
    t7.save(module, path)
    loaded = t7.load(path)
    for _ in range(60):
        loaded = loaded["modules"][1]
    assert loaded.typename == "cudnn.ReLU"
    assert t7.dumps(t7.load(path)) == path.read_bytes()


def test_cycles_through_tables_and_objects_are_fine() -> None:
    blob = (
        torch_header(1, "nn.Cyclic")
        + table_header(2, 2)
        + string("me")
        + i32(4)
        + i32(1)
        + string("fields")
        + i32(3)
        + i32(2)
    )
    instance = t7.loads(blob)
    assert instance["me"] is instance and instance["fields"] is instance.fields
    assert t7.dumps(instance) == blob


def test_format_error_attributes_and_pickling(tmp_path) -> None:
    import pickle

    path = tmp_path / "short.t7"
    path.write_bytes(table_header(1, 1) + string("key"))
    with pytest.raises(t7.T7FormatError) as caught:
        t7.load(path)
    error = caught.value
    assert error.offset == len(table_header(1, 1) + string("key"))
    assert error.source == str(path) and "type id" in error.expected and "end of the file" in error.found
    clone = pickle.loads(pickle.dumps(error))
    assert str(clone) == str(error) and clone.offset == error.offset


def test_empty_file_and_pipes(tmp_path) -> None:
    import os

    empty = tmp_path / "empty.t7"
    empty.write_bytes(b"")
    with pytest.raises(t7.T7FormatError, match="at byte 0"):
        t7.load(empty)
    if not os.path.isdir("/dev/fd"):
        return
    read_end, write_end = os.pipe()
    os.write(write_end, table_header(1, 1) + string("a") + number(2))
    os.close(write_end)
    try:
        assert t7.load(f"/dev/fd/{read_end}") == {"a": 2}
    finally:
        os.close(read_end)

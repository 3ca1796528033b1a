"""Reader extension points: our register_handler, and handlers registered with torchfile."""

from __future__ import annotations

import pytest
import torchfile
from t7_bytes import i32, i64, number, torch_header

from converters import t7
from converters.t7 import reader as t7_reader


def test_register_handler_reads_a_custom_serializer(monkeypatch) -> None:
    monkeypatch.setattr(t7_reader, "_HANDLERS", dict(t7_reader._HANDLERS))

    @t7.register_handler("my.Counter")
    def read_counter(reader, typename, version, index):
        return ("counter", version, reader.read_long())

    assert t7.loads(torch_header(1, "my.Counter", "V 3") + i64(42)) == ("counter", 3, 42)


def test_torchfile_registered_handlers_are_a_fallback(monkeypatch) -> None:
    def read_point(reader, version):
        return {"version": version, "x": reader.read_double(), "y": reader.read_obj()}

    monkeypatch.setitem(torchfile.type_handlers, b"my.Point", read_point)
    blob = torch_header(1, "my.Point") + number(1.5)[4:] + number(2)
    assert t7.loads(blob) == {"version": b"V 1", "x": 1.5, "y": 2}
    # a handler's object cannot refer to itself while it is being read
    with pytest.raises(t7.T7FormatError, match="still being read"):
        t7.loads(torch_header(1, "my.Point") + number(1.5)[4:] + i32(4) + i32(1))
    with pytest.raises(t7.T7FormatError):
        t7.loads(torch_header(1, "my.Point") + b"\x00")


def test_builtin_torchfile_handlers_are_not_touched() -> None:
    # our reader must not change what plain torchfile does (the benchmark compares against it)
    assert torchfile.type_handlers[b"torch.FloatTensor"].__module__ == "torchfile"
    assert b"torch.CudaLongTensor" not in torchfile.type_handlers

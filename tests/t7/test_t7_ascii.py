"""The ascii format (``torch.save(path, object, 'ascii')``): genuine Lua files, their binary twins, its text rules.

The genuine files are found by walking the fixture folders, so a new file there
is tested without a code change.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from fixtures import fixture_path, fixtures_root
from t7_trees import tree_differences

from converters import t7

MISSING = "<fixtures missing>"
SUFFIX_MODES = {".txt": "ascii", ".dat": "binary"}


def _listing(*parts: str, pattern: str) -> list[str]:
    root = fixtures_root().joinpath(*parts)
    names = sorted(path.relative_to(root).as_posix() for path in root.rglob(pattern)) if root.is_dir() else []
    return names or [MISSING]


def _path(name: str, *parts: str) -> Path:
    if name == MISSING:
        fixture_path(*parts, "<any file>")  # fails under CI, skips elsewhere
    return fixture_path(*parts, *name.split("/"))


def opencv_files() -> list[str]:
    """Every Torch7 file of the OpenCV importer's test data (``*.txt`` ascii, ``*.dat`` binary)."""
    return [
        name for name in _listing("opencv_torch", pattern="*") if name == MISSING or Path(name).suffix in SUFFIX_MODES
    ]


def opencv_twins() -> list[str]:
    """Ascii OpenCV files that also exist in binary (``X.txt`` and ``X.dat``, in any of its folders)."""
    names = opencv_files()
    binaries = {Path(name).stem for name in names if name.endswith(".dat")}
    return [name for name in names if name.endswith(".txt") and Path(name).stem in binaries] or [MISSING]


def nn_module_twins() -> list[str]:
    """``NAME.net.ascii.t7`` files of the nn_modules fixtures (each has a binary ``NAME.net.t7``)."""
    return _listing("torch7", "nn_modules", pattern="*.ascii.t7")


# -- genuine files ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", nn_module_twins())
def test_nn_module_ascii_file_equals_its_binary_twin(name: str) -> None:
    ascii_path = _path(name, "torch7", "nn_modules")
    binary_path = ascii_path.with_name(ascii_path.name.replace(".ascii.t7", ".t7"))
    parsed = t7.load(ascii_path)
    assert t7.detect_mode(ascii_path.read_bytes()) == "ascii"
    assert tree_differences(parsed, t7.load(binary_path)) == []
    assert tree_differences(parsed, t7.load(ascii_path, lazy=False, mode="ascii")) == []


@pytest.mark.parametrize("name", opencv_files())
def test_every_opencv_file_parses_and_round_trips(name: str) -> None:
    path = _path(name, "opencv_torch")
    original = path.read_bytes()
    mode = SUFFIX_MODES[path.suffix]
    assert t7.detect_mode(original) == mode
    parsed = t7.load(path)
    assert isinstance(parsed, (t7.T7Object, t7.T7Tensor))
    if path.stem.endswith("_net"):
        assert parsed.typename.startswith("nn.")
    assert t7.dumps(parsed, mode=mode) == original
    other = "binary" if mode == "ascii" else "ascii"
    assert tree_differences(parsed, t7.loads(t7.dumps(parsed, mode=other))) == []
    with pytest.raises(t7.T7FormatError):
        t7.load(path, mode=other)


@pytest.mark.parametrize("name", opencv_twins())
def test_opencv_ascii_file_matches_its_binary_twin(name: str) -> None:
    """OpenCV re-saved some of its ascii test files in binary, dropping the modules' buffers
    (``output``, ``gradInput``, ...). Where the twins' inputs are the same, they come from the same
    run and must agree in every value; otherwise the nets were regenerated (new random weights) and
    must still agree in structure, hyper-parameters, types and shapes."""
    ascii_path = _path(name, "opencv_torch")
    folder = fixtures_root() / "opencv_torch"
    binary_path = next(folder.rglob(f"{ascii_path.stem}.dat"))
    group = ascii_path.stem.rsplit("_", 1)[0]
    inputs = [next(folder.rglob(f"{group}_input{suffix}"), None) for suffix in (".txt", ".dat")]
    same_run = None not in inputs and tree_differences(t7.load(inputs[0]), t7.load(inputs[1])) == []

    parsed, twin = t7.load(ascii_path), t7.load(binary_path)
    assert tree_differences(parsed, twin, left_may_have_more_keys=True, values=same_run) == []
    if not same_run:  # regenerated: the comparison above really skipped differing values
        assert tree_differences(parsed, twin, left_may_have_more_keys=True) != []


def test_the_fixtures_hold_what_the_issue_describes() -> None:
    names = opencv_files()
    fixture_path("opencv_torch")
    ascii_nets = [name for name in names if name.endswith("_net.txt") and "/" not in name]
    binary_nets = [name for name in names if name.endswith("_net.dat")]
    assert len(ascii_nets) >= 16 and len(binary_nets) >= 16
    assert sum(name.endswith(".txt") for name in names) >= 55
    assert "historical/net_conv_net.txt" in opencv_twins()


@pytest.mark.parametrize(
    "name", [name for name in _listing("torch7", "nn_modules", pattern="*.t7") if not name.endswith(".ascii.t7")]
)
def test_binary_fixture_written_as_ascii_reads_back_the_same(name: str) -> None:
    """Every genuine binary nn_modules file keeps its tree through our ascii writer and reader (the bytes may
    differ only where a NaN had a payload: text keeps only a NaN's sign, in Lua too)."""
    original = _path(name, "torch7", "nn_modules").read_bytes()
    parsed = t7.loads(original)
    text = t7.dumps(parsed, mode="ascii")
    again = t7.loads(text)
    assert tree_differences(parsed, again) == []
    assert t7.dumps(again, mode="ascii") == text


# -- the text rules -------------------------------------------------------------------------
def lua(text: str | bytes, **options) -> object:
    return t7.loads(text.encode("latin-1") if isinstance(text, str) else text, **options)


def storage_text(typename: str, count: int, elements: str) -> str:
    return f"4\n1\n3\nV 1\n{len(typename)}\n{typename}\n{count}\n{elements}"


@pytest.mark.parametrize(
    "text, value",
    [
        ("1\n3\n", 3),
        ("1\n-2\n", -2),
        ("1\n1e+20\n", 10**20),
        ("1\n9007199254740993\n", 2**53),  # rounded to a double, as in Lua
        ("1\n0.10000000000000001\n", 0.1),
        ("1\n-1.5e-310\n", -1.5e-310),
        ("1\n+.5\n", 0.5),
        ("1\n5.\n", 5),
        ("1\ninf\n", math.inf),
        ("1\n-inf\n", -math.inf),
        ("1\nInfinity\n", math.inf),
        ("1\n-INF\n", -math.inf),
        ("2\n0\n", ""),
        ("2\n5\nhello\n", "hello"),
        ("2\n3\na\nb\n", "a\nb"),
        ("2\n2\n\r\n\n", "\r\n"),
        ("2\n2\n\xff\x00\n", b"\xff\x00"),
        ("5\n1\n", True),
        ("5\n0\n", False),
        ("0\n", None),
        ("  \n\t1\n 7\n", 7),  # fscanf skips blanks before numbers
        ("1\n7", 7),  # the last newline may be missing
        ("1\n7\n\n\n  ", 7),  # or there may be more blanks
    ],
)
def test_values(text: str, value: object) -> None:
    parsed = lua(text)
    assert parsed == value and type(parsed) is type(value)


def test_negative_zero_and_nan_spellings() -> None:
    zero = lua("1\n-0\n")
    assert zero == 0 and math.copysign(1, zero) == -1 and type(zero) is float
    for spelling in ["nan", "NaN", "-nan", "nan(0x8)", "+nan"]:
        assert math.isnan(lua(f"1\n{spelling}\n"))
    assert math.copysign(1, lua("1\n-nan\n")) == -1  # glibc's spelling of a NaN with its sign bit
    assert t7.dumps(lua("1\n-nan\n"), mode="ascii") == b"1\n-nan\n"


@pytest.mark.parametrize(
    "typename, elements, expected",
    [
        ("torch.DoubleStorage", "1 -2.5 1e+300 inf -inf 0.10000000000000001", [1, -2.5, 1e300, np.inf, -np.inf, 0.1]),
        ("torch.FloatStorage", "0.333333343 -1.5 3.40282347e+38 1e+39", [1 / 3, -1.5, 3.4028234663852886e38, np.inf]),
        ("torch.CudaStorage", "1 2 3", [1, 2, 3]),
        ("torch.HalfStorage", "0.5 65504 -2", [0.5, 65504, -2]),
        ("torch.LongStorage", "-9223372036854775808 0 9223372036854775807", [-(2**63), 0, 2**63 - 1]),
        ("torch.IntStorage", "-2147483648 +5 2147483647", [-(2**31), 5, 2**31 - 1]),
        ("torch.ShortStorage", "-32768 0 32767", [-32768, 0, 32767]),
        ("torch.DoubleStorage", "1\n2 \t3  4\r\n5", [1, 2, 3, 4, 5]),  # fscanf takes any blanks between numbers
        ("torch.DoubleStorage", "nan 1 -nan", [np.nan, 1, np.nan]),
    ],
)
def test_storages(typename: str, elements: str, expected: list) -> None:
    storage = lua(storage_text(typename, len(expected), elements + "\n"))
    assert storage.typename == typename and storage.size == len(expected)
    values = storage.numpy()
    assert values.dtype == t7.STORAGE_DTYPES[typename]
    np.testing.assert_array_equal(values, np.array(expected, dtype=values.dtype))


def test_byte_and_char_storages_are_raw_bytes() -> None:
    raw = bytes(range(256))
    for typename, dtype in [("torch.ByteStorage", np.uint8), ("torch.CharStorage", np.int8)]:
        text = storage_text(typename, 256, "").encode() + raw + b"\n"
        storage = t7.loads(text)
        np.testing.assert_array_equal(storage.numpy(), np.frombuffer(raw, dtype=dtype))
        assert t7.dumps(storage, mode="ascii") == text
    assert lua(storage_text("torch.ByteStorage", 0, "")).size == 0


def test_tensors_share_their_storage_and_empty_tensors_have_none() -> None:
    text = (
        "3\n1\n2\n"
        "1\n1\n4\n2\n3\nV 1\n17\ntorch.FloatTensor\n2\n2 2\n2 1\n1\n"
        "4\n3\n3\nV 1\n18\ntorch.FloatStorage\n6\n0 1 2 3 4 5\n"
        "1\n2\n4\n4\n3\nV 1\n17\ntorch.FloatTensor\n1\n3\n1\n4\n4\n3\n"
    )
    table = lua(text)
    np.testing.assert_array_equal(table[1].numpy(), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(table[2].numpy(), [3, 4, 5])
    assert table[1].storage is table[2].storage
    assert t7.dumps(table, mode="ascii") == text.encode()
    empty = lua("4\n1\n3\nV 1\n17\ntorch.FloatTensor\n0\n1\n0\n")
    assert empty.size == () and empty.storage is None and empty.numel() == 0


def test_references_cycles_functions_and_old_class_headers() -> None:
    cyclic = lua("3\n1\n1\n2\n2\nme\n3\n1\n")
    assert cyclic["me"] is cyclic
    function = lua("8\n1\n4\n\x1bLJ\n\n3\n2\n0\n")  # bytecode ending in a newline, no upvalues
    assert function.dumped == b"\x1bLJ\n" and function.typeidx == 8 and function.upvalues == {}
    old = lua("4\n1\n7\nnn.Tanh\n3\n2\n0\n")  # written before class versions existed
    assert (old.typename, old.version, old.version_string) == ("nn.Tanh", 0, "")
    assert t7.dumps(old, mode="ascii") == b"4\n1\n7\nnn.Tanh\n3\n2\n0\n"


def test_windows_line_ends_are_accepted() -> None:
    path = fixture_path("torch7", "nn_modules", "Sequential.net.ascii.t7")
    crlf = path.read_bytes().replace(b"\n", b"\r\n")
    assert tree_differences(t7.loads(crlf), t7.load(path)) == []


def test_mode_argument_and_detection(tmp_path) -> None:
    text = b"2\n5\nhello\n"
    assert t7.detect_mode(text) == "ascii" and t7.detect_mode(t7.dumps("hello")) == "binary"
    assert t7.detect_mode(b"") == "binary" and t7.detect_mode(b"PK\x03\x04") == "binary"
    path = tmp_path / "hello.t7"
    path.write_bytes(text)
    assert t7.load(path) == t7.load(path, mode="ascii") == t7.load(path, lazy=False) == "hello"
    with pytest.raises(t7.T7FormatError, match="binary torch.save"):
        t7.load(path, mode="binary")
    with pytest.raises(t7.T7FormatError, match="'ascii'"):
        t7.loads(t7.dumps("hello"), mode="ascii")
    for call in (lambda: t7.loads(text, mode="text"), lambda: t7.load(path, mode="Ascii")):
        with pytest.raises(ValueError, match="mode"):
            call()
    with pytest.raises(ValueError, match="mode"):
        t7.dumps("hello", mode="text")
    t7.save("hello", path, mode="ascii")
    assert path.read_bytes() == text


def test_handlers_work_for_both_formats(monkeypatch) -> None:
    import torchfile

    from converters.t7 import reader as t7_reader

    monkeypatch.setattr(t7_reader, "_HANDLERS", dict(t7_reader._HANDLERS))

    @t7.register_handler("my.Counter")
    def read_counter(reader, typename, version, index):
        return ("counter", version, reader.read_long(), reader.read_float())

    assert lua("4\n1\n3\nV 3\n10\nmy.Counter\n42\n0.1\n") == ("counter", 3, 42, float(np.float32(0.1)))

    def read_point(reader, version):
        return {"xy": reader._read("<di"), "z": reader.read_obj()}

    monkeypatch.setitem(torchfile.type_handlers, b"my.Point", read_point)
    assert lua("4\n1\n3\nV 1\n8\nmy.Point\n1.5\n-2\n1\n3\n") == {"xy": (1.5, -2), "z": 3}


WRITER_VALUES = [
    math.pi,
    -0.0,
    5e-324,
    -1.7976931348623157e308,
    2**53,
    "",
    "text\nwith newline",
    b"\x00\xff",
    t7.T7Tensor.from_numpy(np.array([[1.1, np.nan], [np.inf, -3e38]], dtype=np.float32)),
    t7.T7Tensor.from_numpy(np.array([0.1, 65504, -0.0], dtype=np.float16), "torch.CudaHalfTensor"),
    t7.T7Tensor.from_numpy(np.arange(-3, 3, dtype=np.int64).reshape(2, 3)[:, 1:], "torch.LongTensor"),
    t7.T7Tensor.from_numpy(np.frombuffer(b"\n\r\n ab", dtype=np.uint8)),
    t7.T7Object("tds.Vec", {1: "a", 2: 3.5}, version=0),
    t7.T7Object("tds.Hash", {"k": t7.T7Table({1: True})}, version=0),
    t7.T7Function(b"\x1bLJ\x02\n\n", t7.T7Table({1: t7.T7Table({"name": "x", "value": 2.5})})),
]


@pytest.mark.parametrize("value", WRITER_VALUES, ids=lambda value: type(value).__name__)
def test_ascii_writer_round_trips(value: object) -> None:
    shared = t7.T7Table({"a": value, "b": value}) if not isinstance(value, (int, float, str, bytes)) else value
    text = t7.dumps(shared, mode="ascii")
    assert t7.detect_mode(text) == "ascii"
    parsed = t7.loads(text)
    assert tree_differences(parsed, t7.loads(t7.dumps(shared))) == []
    assert t7.dumps(parsed, mode="ascii") == text
    if isinstance(value, float):
        assert struct.pack("<d", parsed) == struct.pack("<d", value)


def test_legitimately_deep_module_tree_round_trips_in_ascii(tmp_path) -> None:
    """60 nested nn.Sequential (180 Lua nesting levels): deeper than any real model, within max_depth."""
    module = t7.T7Object("nn.ReLU", {"inplace": True})
    for _ in range(60):
        module = t7.T7Object("nn.Sequential", {"modules": t7.T7Table({1: module}), "train": False})
    path = tmp_path / "deep.ascii.t7"
    t7.save(module, path, mode="ascii")
    loaded = t7.load(path)
    assert tree_differences(loaded, module) == []
    with pytest.raises(t7.T7FormatError, match="nested"):
        t7.load(path, max_depth=100)

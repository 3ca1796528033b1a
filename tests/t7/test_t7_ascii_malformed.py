"""Malformed and hostile ascii input: only T7FormatError (with byte offset and line), quickly, no big allocations."""

from __future__ import annotations

import pickle
import random
import time

import numpy as np
import pytest
from fixtures import fixture_path, fixtures_root
from t7_trees import tree_differences

from converters import t7

MAX_BYTES = 2500  # small genuine ascii files get cut at every offset


def small_ascii_fixtures() -> list[str]:
    """Every genuine ascii file of at most MAX_BYTES (relative to the fixtures root)."""
    root = fixtures_root()
    paths = [*root.glob("torch7/nn_modules/*.ascii.t7"), *root.glob("opencv_torch/**/*.txt")]
    names = sorted(path.relative_to(root).as_posix() for path in paths if path.stat().st_size <= MAX_BYTES)
    return names or ["<fixtures missing>"]


def fixture_bytes(name: str) -> bytes:
    return fixture_path(*name.split("/")).read_bytes()


def assert_format_error_or_value(blob: bytes) -> None:
    try:
        t7.loads(blob)
    except t7.T7FormatError as error:
        assert 0 <= error.offset <= len(blob)
        assert error.line == blob[: error.offset].count(b"\n") + 1
        assert f"byte {error.offset} (line {error.line})" in str(error) and "expected" in str(error)


@pytest.mark.parametrize("name", small_ascii_fixtures())
def test_truncation_at_every_offset_is_a_format_error(name: str) -> None:
    blob = fixture_bytes(name)
    for cut in range(len(blob)):
        try:
            parsed = t7.loads(blob[:cut])
        except t7.T7FormatError as error:
            assert 0 <= error.offset <= cut
            continue
        # Text has no length framing: a cut through a number leaves a shorter number (a reference
        # index "11" becomes "1"), which may complete the file; a cut between numbers never does,
        # unless only the final newline is cut.
        through_a_number = not blob[cut - 1 : cut].isspace() and not blob[cut : cut + 1].isspace()
        assert through_a_number or blob[cut:].isspace(), f"cut at {cut} of {len(blob)} parsed as {parsed!r}"
    stripped = blob.rstrip(b"\n")
    assert tree_differences(t7.loads(stripped), t7.loads(blob)) == []


@pytest.mark.parametrize("name", ["torch7/nn_modules/nngraph_residual.net.ascii.t7", "opencv_torch/net_concat_net.txt"])
def test_random_mutations_give_only_format_errors(name: str) -> None:
    blob = fixture_bytes(name)
    rng = random.Random(20261201)
    start = time.perf_counter()
    for _ in range(300):
        mutated = bytearray(blob)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.3:
                mutated[position] ^= 1 << rng.randrange(8)
            elif choice < 0.6:
                mutated[position] = rng.choice(b"0123456789 \n-.ex")
            elif choice < 0.8:
                mutated[position : position + 1] = rng.choice([b"999999999999", b"-1", b"2147483648", b"1e308", b""])
            else:
                mutated.insert(position, rng.choice(b"0123456789 \n\r\t"))
        assert_format_error_or_value(bytes(mutated))
    assert time.perf_counter() - start < 20


def storage(typename: str, count: int | str, elements: str = "", index: int = 1) -> str:
    return f"4\n{index}\n3\nV 1\n{len(typename)}\n{typename}\n{count}\n{elements}"


MALFORMED = [
    ("", "a type id", "the end of the file"),
    ("  \n ", "a type id", "the end of the file"),
    ("9\n", "a type id", "type id 9"),
    ("-1\n", "a type id", "type id -1"),
    ("1.5\n", "a type id", "'1.5'"),
    ("12abc\n", "a type id", "'12abc'"),
    ("99999999999\n", "a type id", "type id 99999999999"),
    ("1" * 5000 + "\n", "a type id", "'111111111111111111111111'"),
    ("1\n", "a number", "the end of the file"),
    ("1\n1.2.3\n", "a number", "'1.2.3'"),
    ("1\nabc\n", "a number", "'abc'"),
    ("1\n0x10\n", "a number", "'0x10'"),
    ("1\n1_000\n", "a number", "'1_000'"),
    ("1\n1e5e5\n", "a number", "'1e5e5'"),
    ("1\n1\xff\n", "a number", "'1\\xff'"),
    ("1\n5\nxyz", "the end of the file after the root object", "'xyz'"),
    ("5\nyes\n", "a 32-bit integer", "'yes'"),
    ("2\n-1\n", "non-negative string length", "-1"),
    ("2\n1000000000\nabc\n", "a string length whose 1000000000 items fit in the 4 characters left", "1000000000"),
    ("3\n1\n2147483647\n", "table size", "2147483647"),
    ("3\n1\n-2\n", "non-negative table size", "-2"),
    ("3\n1\n1\n0\n1\n1\n", "a table key", "nil"),
    ("3\n1\n2\n1\n1\n1\n2\n1\n1\n1\n3\n", "2 distinct table keys", "duplicate keys"),
    ("3\n1\n1\n2\n1\na\n", "a type id", "the end of the file"),
    (storage("torch.FloatStorage", 10**15, "1 2\n"), "torch.FloatStorage size", str(10**15)),
    (storage("torch.FloatStorage", -5), "non-negative torch.FloatStorage size", "-5"),
    (storage("torch.ByteStorage", 100, "abc\n"), "torch.ByteStorage size", "100"),
    (storage("torch.FloatStorage", 3, "1 2 x\n"), "torch.FloatStorage element", "'x'"),
    (storage("torch.FloatStorage", 3, "1 2\n      \n"), "torch.FloatStorage element", "the end of the file"),
    (storage("torch.IntStorage", 3, "1 2.5 3\n"), "an integer torch.IntStorage element", "'2.5'"),
    (storage("torch.IntStorage", 2, "1 2147483648\n"), "torch.IntStorage element", "out of range"),
    (storage("torch.ShortStorage", 2, "1 40000\n"), "torch.ShortStorage element", "out of range"),
    (storage("torch.LongStorage", 2, "1 9223372036854775808\n"), "torch.LongStorage element", "out of range"),
    (storage("torch.LongStorage", "1.5", "1\n"), "a 64-bit integer", "'1.5'"),
    ("4\n1\n3\nV 1\n17\ntorch.FloatTensor\n1000000000\n", "tensor dimension count", "1000000000"),
    ("4\n1\n3\nV 1\n17\ntorch.FloatTensor\n-1\n", "tensor dimension count", "-1"),
    (
        "4\n1\n3\nV 1\n17\ntorch.FloatTensor\n1\n4\n1\n1\n4\n2\n3\nV 1\n18\ntorch.FloatStorage\n3\n1 2 3\n",
        "view inside its storage",
        "element 3",
    ),
    ("4\n1\n3\nV 1\n17\ntorch.FloatTensor\n1\n2\n1\n1\n4\n1\n", "a reference to a finished object", "still being read"),
    ("4\n1\n3\nV 1\n17\ntorch.FloatTensor\n1\n2\n1\n1\n1\n3\n", "view inside its storage", "int instead of a storage"),
    ("4\n1\n3\nV x\n7\nnn.Tanh\n3\n2\n0\n", "a class version number", "nn.Tanh"),
    ("4\n1\n3\nV 1\n0\n3\n2\n0\n", "a non-empty Torch class name", "V 1"),
    ("4\n1\n3\nV 1\n9\nnn.Module\n1\n3\n", "the instance table of a nn.Module", "a int"),
    ("4\n1\n3\nV 1\n8\ntds.Hash\n1000000\n", "tds.Hash size", "1000000"),
    ("8\n1\n-4\n", "non-negative function bytecode length", "-4"),
]


@pytest.mark.parametrize(
    "text, expected, found",
    MALFORMED,
    ids=[f"{number}-{expected}" for number, (_, expected, _) in enumerate(MALFORMED)],
)
def test_handwritten_malformed_records(text: str, expected: str, found: str) -> None:
    blob = text.encode("latin-1")
    start = time.perf_counter()
    with pytest.raises(t7.T7FormatError) as caught:
        t7.loads(blob, mode="ascii")
    assert time.perf_counter() - start < 0.5
    error = caught.value
    assert expected in error.expected and found in error.found, str(error)
    assert error.line == blob[: error.offset].count(b"\n") + 1 and f"(line {error.line})" in str(error)
    assert "torch.save(path, object, 'ascii')" in error.hint


def test_error_position_names_the_bad_word() -> None:
    blob = ("3\n1\n1\n1\n1\n" + storage("torch.DoubleStorage", 5, "1 2 3\n4 oops 6\n", index=2)).encode()
    with pytest.raises(t7.T7FormatError) as caught:
        t7.loads(blob)
    error = caught.value
    assert blob[error.offset :].startswith(b"oops 6") and error.found == "'oops'"
    assert error.line == 14 == blob[: error.offset].count(b"\n") + 1
    assert "torch.DoubleStorage element" in error.expected


def test_format_error_pickles_with_its_line() -> None:
    with pytest.raises(t7.T7FormatError) as caught:
        t7.loads(b"3\n1\n1\n2\n1\na\n1\nnope\n")
    clone = pickle.loads(pickle.dumps(caught.value))
    assert (clone.offset, clone.line, str(clone)) == (caught.value.offset, 8, str(caught.value))


def test_very_deep_nesting_is_bounded() -> None:
    depth = 100_000
    blob = "".join(f"3\n{index}\n1\n1\n1\n" for index in range(1, depth + 1)).encode() + b"0\n"
    start = time.perf_counter()
    with pytest.raises(t7.T7FormatError) as caught:
        t7.loads(blob)
    assert time.perf_counter() - start < 2.0
    assert "nested" in str(caught.value) and caught.value.line is not None
    shallow = "".join(f"3\n{index}\n1\n1\n1\n" for index in range(1, 31)).encode() + b"1\n2\n"
    assert isinstance(t7.loads(shallow), t7.T7Table)
    with pytest.raises(t7.T7FormatError, match="nested"):
        t7.loads(shallow, max_depth=20)


@pytest.mark.parametrize("typename", ["torch.DoubleStorage", "torch.FloatStorage", "torch.HalfStorage"])
def test_one_line_and_token_by_token_parsing_agree_exactly(typename: str) -> None:
    """The numpy fast path (a whole line) and the per-token path (numbers over several lines) give the
    same bits, and both give back exactly what our writer printed (%.17g doubles, %.9g floats)."""
    dtype = t7.STORAGE_DTYPES[typename]
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2 ** (8 * dtype.itemsize), 5000, dtype=np.uint64).astype(f"<u{dtype.itemsize}")
    values = bits.view(dtype)
    values = np.concatenate([values[np.isfinite(values)], np.array([0.0, -0.0, np.inf, -np.inf], dtype=dtype)])
    text = t7.dumps(t7.T7Storage.from_numpy(values, typename), mode="ascii")
    header, elements = text.rstrip(b"\n").rsplit(b"\n", 1)
    one_line = t7.loads(text).numpy()
    spread = t7.loads(header + b"\n" + elements.replace(b" ", b"\n  ")).numpy()
    assert one_line.tobytes() == values.tobytes() == spread.tobytes()

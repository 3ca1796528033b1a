"""zoo.data.cifar: the genuine CIFAR pickle layout loads; crafted pickles and archives are refused without running.

Every hostile pickle here is live: plain ``pickle.loads`` on it creates a marker file (checked), while the
CIFAR reader refuses it with a typed error and the marker never appears.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import resource
import signal
import struct
import tarfile
import time

import numpy as np
import pytest
from fixtures import fixture_path

from zoo.data import cifar
from zoo.data.cifar import CifarError, UnsafePickleError, read_split, unpickle_batch

TRAJECTORY = ("torch7", "train_trajectory")


def genuine_folder():
    return fixture_path(*TRAJECTORY, "cifar10")


def raw_u8(name: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.fromfile(fixture_path(*TRAJECTORY, name), dtype=np.uint8).reshape(shape)


class Call:
    """Pickles as ``function(*args)``: what an attacker puts in a file."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def touch_command(marker) -> str:
    return f"touch {marker}"


def hostile_pickles(marker) -> dict[str, bytes]:
    """Pickles that run code when ``pickle.load``-ed: each creates ``marker``."""
    create = f"open({str(marker)!r}, 'w').close()"
    data = np.zeros((2, 3072), dtype=np.uint8)
    return {
        "os.system, protocol 0": f"cos\nsystem\n(S'{touch_command(marker)}'\ntR.".encode(),
        "posix.system, protocol 2": pickle.dumps({b"data": Call(os.system, touch_command(marker))}, protocol=2),
        "builtins.eval, protocol 4": pickle.dumps({"labels": Call(eval, create)}, protocol=4),
        "builtins.exec beside real data, protocol 5": pickle.dumps(
            {b"data": data, b"labels": [0, 1], b"batch_label": Call(exec, create)}, protocol=5
        ),
        "__builtin__.eval, Python 2 spelling": f'c__builtin__\neval\n(S"{create}"\ntR.'.encode(),
    }


@pytest.mark.parametrize("name", sorted(hostile_pickles("x")))
def test_a_crafted_pickle_is_refused_without_running(tmp_path, name):
    live_marker, marker = tmp_path / "plain_pickle_ran", tmp_path / "cifar_reader_ran"
    with contextlib.suppress(Exception):  # the payload is live: plain pickle runs it
        pickle.loads(hostile_pickles(live_marker)[name])
    assert live_marker.exists()
    with pytest.raises(
        UnsafePickleError, match=r"data_batch_1: refused to unpickle the global (os|posix|builtins|__bu)"
    ):
        unpickle_batch(hostile_pickles(marker)[name], "data_batch_1")
    assert not marker.exists()


def test_a_crafted_batch_in_a_dataset_folder_is_refused_by_the_dataset_and_the_cli(tmp_path):
    from click.testing import CliRunner

    from zoo.cli import main
    from zoo.training.datasets import CifarDataset

    marker = tmp_path / "ran"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(hostile_pickles(marker)["posix.system, protocol 2"])
    (folder / "test_batch").write_bytes((genuine_folder() / "test_batch").read_bytes())
    with pytest.raises(UnsafePickleError, match=r"data_batch_1: refused to unpickle the global posix\.system"):
        CifarDataset(tmp_path, train=True)
    result = CliRunner().invoke(
        main, ["train", "--data", str(tmp_path), "--dataset", "cifar10", "--out", str(tmp_path / "run"), "--quiet"]
    )
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert "posix.system" in result.stderr and "data_batch_1" in result.stderr and not marker.exists()


def test_the_genuine_python2_batches_load_with_their_exact_pixels_and_labels():
    images, labels = read_split(genuine_folder(), train=True, dataset="cifar10")
    assert images.dtype == np.uint8 and images.shape == (40, 3, 32, 32)
    assert np.array_equal(images, raw_u8("train_images.u8", (40, 3, 32, 32)))
    assert labels == raw_u8("train_labels.u8", (40,)).tolist()
    test_images, test_labels = read_split(genuine_folder(), train=False, dataset="cifar10")
    assert np.array_equal(test_images, raw_u8("test_images.u8", (16, 3, 32, 32)))
    assert test_labels == raw_u8("test_labels.u8", (16,)).tolist()


def test_python3_protocols_of_the_same_batch_load_alike():
    batch = pickle.loads((genuine_folder() / "data_batch_2").read_bytes(), encoding="bytes")
    expected = unpickle_batch((genuine_folder() / "data_batch_2").read_bytes(), "data_batch_2")
    for protocol in (2, 3, 4, 5):
        loaded = unpickle_batch(pickle.dumps(batch, protocol=protocol), f"protocol {protocol}")
        assert np.array_equal(loaded["data"], expected["data"]) and loaded["labels"] == expected["labels"]
    labels_as_array = {**batch, b"labels": np.asarray(batch[b"labels"], dtype=np.int64)}
    assert cifar.check_batch(unpickle_batch(pickle.dumps(labels_as_array), "x"), "x", 10)[1] == expected["labels"]


def pickled(value, protocol: int = 2) -> bytes:
    return pickle.dumps(value, protocol=protocol)


NUMPY_MISUSE = {
    # numpy.ndarray((2**40,), 'u1') would allocate a terabyte
    "ndarray called": (b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85U\x02u1\x86R.", "ndarray called directly"),
    "object dtype": (pickled({b"data": np.array([None, 1], dtype=object)}), "dtype 'O"),
    "float dtype": (pickled({b"data": np.zeros((1, 3072))}), "dtype 'f8'"),
    "numpy scalar": (pickled({b"labels": [np.int64(3)]}), "numpy.core.multiarray.scalar|numpy._core.multiarray.scalar"),
    "persistent id": (b"\x80\x02U\x01xQ.", "pickle operation BINPERSID"),
    "NEWOBJ": (b"\x80\x02cnumpy\ndtype\n)\x81.", "pickle operation NEWOBJ"),
    "INST": (b"(inumpy\ndtype\nS'u1'\nb.", "pickle operation INST"),
    "BUILD on a builder": (b"\x80\x02cnumpy\ndtype\n}b.", "BUILD on the global numpy.dtype"),
}


@pytest.mark.parametrize("name", sorted(NUMPY_MISUSE))
def test_the_allowed_numpy_names_build_only_plain_uint8_and_int64_arrays(name):
    content, message = NUMPY_MISUSE[name]
    with pytest.raises(UnsafePickleError, match=message):
        unpickle_batch(content, "batch")


def test_a_memo_index_far_beyond_the_file_is_refused_before_any_allocation():
    """LONG_BINPUT 2**32-16: CPython's unpickler would size its memo table to 32 GiB for these 10 bytes."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(CifarError, match="memo index 4294967280 after 0 stored objects"):
        unpickle_batch(b"\x80\x02Nr" + struct.pack("<I", 2**32 - 16) + b".", "batch")
    assert time.perf_counter() - started < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB


def test_an_array_declaring_more_bytes_than_it_holds_is_refused():
    genuine = bytearray((genuine_folder() / "data_batch_1").read_bytes())
    start = genuine.index(b"K\x08M\x00\x0c\x86")  # the shape tuple (8, 3072) of the data array
    genuine[start + 1] = 0x7F  # (127, 3072): 390,144 bytes declared, 24,576 present
    with pytest.raises(CifarError, match="needs 390,144 bytes but holds 24,576"):
        unpickle_batch(bytes(genuine), "data_batch_1")


@pytest.mark.parametrize("cut", [1, 100, 300, 20_000, -2])
def test_a_truncated_batch_is_a_cifar_error(cut):
    content = (genuine_folder() / "data_batch_1").read_bytes()[:cut]
    with pytest.raises(CifarError, match="data_batch_1: not a CIFAR batch: the pickle is malformed or truncated"):
        unpickle_batch(content, "data_batch_1")


def cifar100_file(count: int, seed: int) -> tuple[bytes, np.ndarray, list[int]]:
    generator = np.random.default_rng(seed)
    data = generator.integers(0, 256, size=(count, 3072), dtype=np.uint8)
    fine = [int(label) for label in generator.integers(0, 100, size=count)]
    batch = {
        b"filenames": [f"img_{index}.png".encode() for index in range(count)],
        b"batch_label": b"training batch 1 of 1",
        b"fine_labels": fine,
        b"coarse_labels": [label // 5 for label in fine],
        b"data": data,
    }
    return pickle.dumps(batch, protocol=2), data, fine


def batch_with(**changes) -> dict:
    batch = {b"data": np.zeros((4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
    batch.update({key.encode(): value for key, value in changes.items()})
    return batch


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pickled([1, 2]), "expected a CIFAR batch \\(a dict\\), found a list"),
        (pickled(batch_with(data=np.zeros((4, 1024), dtype=np.uint8))), "uint8 array of N x 3072 values, found"),
        (pickled({b"labels": [0]}), "expected 'data' .* found missing"),
        (pickled(batch_with(labels=[0, 1, 2])), "4 images but 3 labels"),
        (pickled(batch_with(labels=[0, 1, 57, 3])), "label 57 is outside 0..9 .*use --dataset cifar100"),
        (pickled(batch_with(labels=[0, 1, -1, 3])), "label -1 is outside 0..9"),
        (pickled(batch_with(labels=["0", 1, 2, 3])), "expected 'labels' as a list of ints, it is a list"),
        (pickled(batch_with(labels=[0, 1, True, 3])), "as a list of ints"),
        (pickled({b"data": np.zeros((4, 3072), dtype=np.uint8)}), "'labels' as a list of ints, it is missing"),
        (cifar100_file(4, 0)[0], "'labels' as a list of ints, it is missing \\(is this cifar100\\?"),
    ],
)
def test_batch_contents_are_checked(tmp_path, content, message):
    (tmp_path / "data_batch_1").write_bytes(content)
    with pytest.raises(CifarError, match=message):
        read_split(tmp_path, train=True, dataset="cifar10")


def official_cifar10_archive(path, extra=()):
    """The layout of cifar-10-python.tar.gz, with the genuine-format fixture batches."""
    with tarfile.open(path, "w:gz") as archive:
        for name in ("batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"):
            archive.add(genuine_folder() / name, arcname=f"cifar-10-batches-py/{name}")
        for member, content in extra:
            archive.addfile(member, io.BytesIO(content) if content is not None else None)
        archive.add(genuine_folder() / "test_batch", arcname="cifar-10-batches-py/test_batch")
    return path


def link(name, target, kind=tarfile.SYMTYPE):
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


def test_the_official_cifar10_archive_is_read_without_extracting_and_links_are_ignored(tmp_path):
    links = [
        (link("cifar-10-batches-py/data_batch_6", "/etc/passwd"), None),
        (link("cifar-10-batches-py/data_batch_7", "cifar-10-batches-py/data_batch_1", tarfile.LNKTYPE), None),
    ]
    archive = official_cifar10_archive(tmp_path / "cifar-10-python.tar.gz", links)
    images, labels = read_split(archive, train=True, dataset="cifar10")
    folder_images, folder_labels = read_split(genuine_folder(), train=True, dataset="cifar10")
    assert np.array_equal(images, folder_images) and labels == folder_labels and len(labels) == 40
    test_images, _ = read_split(tmp_path, train=False, dataset="cifar10")  # the archive found in a folder
    assert np.array_equal(test_images, raw_u8("test_images.u8", (16, 3, 32, 32)))
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-python.tar.gz"]  # nothing extracted


def add_bytes(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(content)
    archive.addfile(member, io.BytesIO(content))


def test_the_cifar100_archive_and_folder_layouts_load_train_test_and_fine_labels(tmp_path):
    from zoo.training.datasets import CifarDataset

    train_content, train_data, train_labels = cifar100_file(30, 0)
    test_content, test_data, test_labels = cifar100_file(10, 1)
    with tarfile.open(tmp_path / "cifar-100-python.tar.gz", "w:gz") as archive:
        for name, content in [("train", train_content), ("test", test_content), ("meta", pickle.dumps({}))]:
            add_bytes(archive, f"cifar-100-python/{name}", content)
    train_set = CifarDataset(tmp_path / "cifar-100-python.tar.gz", train=True, dataset="cifar100")
    assert len(train_set) == 30 and train_set.num_classes == 100 and train_set.labels == train_labels
    assert np.array_equal(train_set.images.numpy().reshape(30, 3072), train_data)
    folder = tmp_path / "extracted" / "cifar-100-python"
    folder.mkdir(parents=True)
    (folder / "test").write_bytes(test_content)
    images, labels = read_split(tmp_path / "extracted", train=False, dataset="cifar100")
    assert np.array_equal(images.reshape(10, 3072), test_data) and labels == test_labels


@pytest.mark.parametrize(
    ("limit", "content", "message"),
    [
        ("MAX_ARCHIVE_BYTES", bytes(3 * 2**20), "decompresses to more than 1,048,576 bytes"),
        ("MAX_FILE_BYTES", bytes(2**20 + 1), "member cifar-10-batches-py/data_batch_1 is too large"),
    ],
)
def test_archive_bombs_stop_at_their_bounds(tmp_path, monkeypatch, limit, content, message):
    monkeypatch.setattr(cifar, limit, 2**20)
    with tarfile.open(tmp_path / "bomb.tar.gz", "w:gz") as archive:
        add_bytes(archive, "cifar-10-batches-py/data_batch_1", content)
    assert (tmp_path / "bomb.tar.gz").stat().st_size < 20_000
    with pytest.raises(CifarError, match=message):
        read_split(tmp_path / "bomb.tar.gz", train=True, dataset="cifar10")


def test_broken_archives_and_link_only_archives_are_cifar_errors(tmp_path):
    genuine = official_cifar10_archive(tmp_path / "c10.tar.gz").read_bytes()
    (tmp_path / "truncated.tar.gz").write_bytes(genuine[: len(genuine) // 2])
    (tmp_path / "noise.tar.gz").write_bytes(np.random.default_rng(0).bytes(5000))
    for name in ("truncated.tar.gz", "noise.tar.gz"):
        with pytest.raises(CifarError, match="not a readable tar"):
            read_split(tmp_path / name, train=True, dataset="cifar10")
    with tarfile.open(tmp_path / "links.tar", "w") as archive:
        archive.addfile(link("cifar-10-batches-py/data_batch_1", "/etc/passwd"))
        archive.addfile(link("cifar-10-batches-py/../../data_batch_2", "x"))
    with pytest.raises(CifarError, match="no CIFAR data_batch_1..5"):
        read_split(tmp_path / "links.tar", train=True, dataset="cifar10")
    with pytest.raises(CifarError, match="no CIFAR data_batch_1..5"):
        read_split(tmp_path / "missing", train=True, dataset="cifar10")


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (rather than hang the suite) if the block blocks, e.g. on opening a FIFO."""

    def expire(signum, frame):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_fifos_and_devices_are_never_opened_for_reading(tmp_path):
    os.mkfifo(tmp_path / "cifar-10-python.tar.gz")
    folder = tmp_path / "batches"
    folder.mkdir()
    os.mkfifo(folder / "data_batch_1")
    (folder / "data_batch_2").symlink_to("/dev/zero")
    with deadline(10):
        with pytest.raises(CifarError, match="is not a regular file"):
            read_split(tmp_path / "cifar-10-python.tar.gz", train=True, dataset="cifar10")
        with pytest.raises(CifarError, match="no CIFAR data_batch"):  # neither counts as a batch file
            read_split(folder, train=True, dataset="cifar10")

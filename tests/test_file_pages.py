"""drop_file_pages: releases the pages of a file mapping behind an array, and never any other memory."""

from __future__ import annotations

import mmap
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from converters.file_pages import drop_file_pages

PROJECT_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps (Linux)")


def _resident_kb(path: Path) -> int:
    """Resident kB of this process's mappings of ``path`` (from /proc/self/smaps)."""
    resident, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = fields[-1] == str(path)
        elif inside and fields[0] == "Rss:":
            resident += int(fields[1])
    return resident


def test_pages_of_the_mapping_are_released(tmp_path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(np.arange(256 * 1024, dtype=np.float32).tobytes())  # 1 MiB
    with open(path, "rb") as handle:
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    array = np.frombuffer(mapping, dtype=np.float32)
    assert float(array.sum()) > 0  # touches every page
    before = _resident_kb(path)
    drop_file_pages(array[1:])  # a view: the first, partial page stays
    after = _resident_kb(path)
    assert before >= 1000 and after <= 8, (before, after)
    assert array[12345] == 12345  # dropped pages of a file mapping read back from the file
    del array
    mapping.close()


def test_heap_memory_is_never_released(tmp_path) -> None:
    heap = np.full(1 << 20, 7, dtype=np.int64)
    drop_file_pages(heap)
    drop_file_pages(heap[::2])
    assert np.all(heap == 7)


def test_a_zero_stride_view_releases_only_its_own_pages(tmp_path) -> None:
    """The memory-corruption bug of issue 9: madvise over ``nbytes`` from a 3-page mapping.

    Run in a child process: the old code discarded the pages that follow the mapping (here a
    64 MiB heap array mapped just above it), which zeroes or crashes the process.
    """
    script = textwrap.dedent(
        """
        import mmap, sys
        import numpy as np
        from converters.file_pages import drop_file_pages
        path = sys.argv[1]
        with open(path, "wb") as handle:
            handle.write(b"x" * 3 * mmap.PAGESIZE)
        heap = np.full(8 << 20, 7, dtype=np.int64)  # 64 MiB, mapped before (so above) the file
        with open(path, "rb") as handle:
            mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        storage = np.frombuffer(mapping, dtype=np.float32)
        repeated = np.lib.stride_tricks.as_strided(storage, shape=(1 << 26,), strides=(0,))
        assert repeated.nbytes > heap.nbytes
        drop_file_pages(repeated)
        drop_file_pages(np.lib.stride_tricks.as_strided(storage[-1:], shape=(1 << 20, 4), strides=(0, 0)))
        print("heap intact" if np.all(heap == 7) else "heap damaged")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "small.bin")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "heap intact"

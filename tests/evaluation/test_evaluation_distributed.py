"""Two CPU processes (gloo, env:// as torchrun sets it up) count each image exactly once."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch.multiprocessing as mp
from evaluation_helpers import ColorPrototypeModel, expected_counts
from ports import free_port

from zoo.evaluation.sharding import shard_indices

WORLD_SIZE = 2
LIMIT = 2  # 13 of the 21 painted images: an odd count
TIMEOUT_S = 120


def _worker(rank: int, root: str, port: int, out_dir: str) -> None:
    # What torchrun exports for each process.
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": str(WORLD_SIZE),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": str(WORLD_SIZE),
        }
    )
    import torch

    torch.set_num_threads(1)
    from zoo.evaluation import evaluate

    result = evaluate(ColorPrototypeModel(), root, batch_size=4, device="cpu", limit=LIMIT, keep_predictions=True)
    Path(out_dir, f"rank{rank}.json").write_text(result.to_json())


def test_shards_cover_every_index_once():
    for length in (0, 1, 7, 21, 50_001):
        for world in (1, 2, 3, 8):
            shards = [shard_indices(length, rank, world) for rank in range(world)]
            merged = sorted(index for shard in shards for index in shard)
            assert merged == list(range(length))
            assert max(map(len, shards)) - min(map(len, shards)) <= 1
    with pytest.raises(ValueError, match="outside"):
        shard_indices(5, 2, 2)


def test_two_processes_count_like_one(painted_folder, tmp_path):
    root, painted = painted_folder
    total, top1, top5 = expected_counts(painted, LIMIT)
    assert (
        total % WORLD_SIZE == 1 and 0 < top1 < top5 < total
    )  # padding by DistributedSampler would count one image twice

    context = mp.start_processes(
        _worker, args=(str(root), free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"distributed evaluation did not finish within {TIMEOUT_S} s")

    records = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(WORLD_SIZE)]
    for record in records:  # every rank ends with the global numbers
        assert (record["images"], record["top1_correct"], record["top5_correct"]) == (total, top1, top5)
        assert record["environment"]["world_size"] == WORLD_SIZE and record["environment"]["backend"] == "gloo"
        assert [entry["index"] for entry in record["predictions"]] == list(range(total))
    assert records[0]["predictions"] == records[1]["predictions"]

    from zoo.evaluation import evaluate

    single = evaluate(ColorPrototypeModel(), root, batch_size=4, device="cpu", limit=LIMIT, keep_predictions=True)
    assert (single.images, single.top1_correct, single.top5_correct) == (total, top1, top5)
    assert records[0]["predictions"] == single.predictions

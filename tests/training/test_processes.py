"""Real processes: SIGTERM writes a checkpoint; a 2-process gloo DDP run killed and resumed equals the whole run."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from ports import free_port

from zoo.training.checkpoint import load_checkpoint
from zoo.training.config import TrainConfig
from zoo.training.engine import train

TINY = {"growth_rate": 4, "block_config": [2, 2], "num_init_features": 8, "stem": "cifar"}
REPO = Path(__file__).resolve().parents[2]


def cli_arguments(out, samples=256, epochs=3):
    return [
        "--data",
        "synthetic",
        "--model-config",
        json.dumps(TINY),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        "--batch-size",
        "16",
        "--lr",
        "0.05",
        "--lr-shape",
        "cosine",
        "--synthetic-samples",
        str(samples),
        "--synthetic-classes",
        "4",
        "--image-size",
        "12",
        "--workers",
        "0",
        "--log-every",
        "1",
        "--seed",
        "3",
    ]


def environment():
    # loopback only: gloo would otherwise pick an interface from the host name
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), GLOO_SOCKET_IFNAME="lo")
    env.pop("WORLD_SIZE", None)
    return env


def start_and_signal(command, out, after_lines=2, timeout=120):
    """Start ``command``, wait until it logged ``after_lines`` steps, send SIGTERM, wait for the exit."""
    process = subprocess.Popen(
        command, cwd=REPO, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    metrics = Path(out) / "metrics.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= after_lines:
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(0.01)
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def assert_same_weights(left_dir, right_dir):
    left, right = load_checkpoint(left_dir), load_checkpoint(right_dir)
    assert left["global_step"] == right["global_step"]
    for key, tensor in left["model"].items():
        assert torch.equal(tensor, right["model"][key]), key
    for index, state in left["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"], right["optimizer"]["state"][index]["momentum_buffer"])


def test_sigterm_writes_a_checkpoint_and_the_resumed_run_matches(tmp_path):
    out = tmp_path / "signalled"
    command = [sys.executable, "-m", "zoo.cli", "train", *cli_arguments(out)]
    returncode, _stdout, stderr = start_and_signal(command, out)
    assert returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by signal" in stderr and "--resume" in stderr
    stopped = load_checkpoint(out)
    assert 0 < stopped["global_step"] < 48
    finished = train(TrainConfig(data=None, resume=str(out), out=str(out), workers=0, progress=False))
    assert finished.status == "finished" and finished.global_step == 48
    # the same run uninterrupted, in this process (one thread, as in the subprocesses)
    train(
        TrainConfig(
            arch="tiny",
            model_config=TINY,
            data="synthetic",
            out=str(tmp_path / "whole"),
            epochs=3,
            batch_size=16,
            lr=0.05,
            lr_shape="cosine",
            synthetic_samples=256,
            synthetic_classes=4,
            image_size=12,
            workers=0,
            seed=3,
            progress=False,
        )
    )
    assert_same_weights(tmp_path / "whole", out)


def torchrun(*arguments):
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "zoo.cli",
        "train",
        *arguments,
    ]


def _rank_main(rank, world_size, port, settings):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        GLOO_SOCKET_IFNAME="lo",
    )
    torch.set_num_threads(1)
    train(TrainConfig(**settings))


def run_two_ranks(settings):
    """Two gloo ranks forked from this process (no interpreter start-up), like torchrun's workers."""
    context = multiprocessing.get_context("fork")
    port = free_port()
    ranks = [context.Process(target=_rank_main, args=(rank, 2, port, settings)) for rank in range(2)]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(timeout=120)
    assert [process.exitcode for process in ranks] == [0, 0]


def test_two_process_gloo_run_killed_and_resumed_matches_the_whole_run(tmp_path):
    killed_dir = tmp_path / "killed"
    returncode, _, stderr = start_and_signal(
        torchrun(*cli_arguments(killed_dir, samples=256), "--checkpoint-every", "5"), killed_dir
    )
    assert returncode != 0, stderr[-3000:]
    stopped = load_checkpoint(killed_dir)
    assert stopped["world_size"] == 2 and len(stopped["rng_states"]) == 2
    assert 0 < stopped["global_step"] < 48, (
        "the run should have been stopped part-way"
    )  # 256 / 2 ranks / 8 per step x 3 epochs
    run_two_ranks(dict(data="synthetic", resume=str(killed_dir), out=str(killed_dir), workers=0, progress=False))
    whole = dict(
        arch="tiny",
        model_config=TINY,
        data="synthetic",
        out=str(tmp_path / "whole"),
        epochs=3,
        batch_size=16,
        lr=0.05,
        lr_shape="cosine",
        synthetic_samples=256,
        synthetic_classes=4,
        image_size=12,
        workers=0,
        seed=3,
        progress=False,
        checkpoint_every=5,
    )
    run_two_ranks(whole)
    assert load_checkpoint(tmp_path / "whole")["global_step"] == 48
    assert_same_weights(tmp_path / "whole", killed_dir)

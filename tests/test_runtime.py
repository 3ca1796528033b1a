"""zoo.runtime: device choice, loader options, autocast and the single-process context (multi-process runs
are exercised by tests/evaluation/test_evaluation_distributed.py and tests/training/test_processes.py)."""

import pytest
import torch

from zoo.runtime import AMP_MODES, amp_dtype, autocast, init_distributed, loader_options, resolve_device


def test_device_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected and resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU is visible; use --device cpu"):
            resolve_device("cuda")


def test_single_process_context(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = init_distributed("cpu")
    assert (context.rank, context.world_size, context.device, context.owns_group) == (0, 1, torch.device("cpu"), False)
    assert context.is_main and not context.distributed
    values = torch.tensor([1.0, 2.0])
    assert context.all_reduce(values) is values and context.all_reduce(values, op="max") is values
    assert context.all_gather_object({"a": 1}) == [{"a": 1}]
    with pytest.raises(ValueError, match="op must be 'sum' or 'max'"):
        context.all_reduce(values, op="mean")
    context.barrier()
    context.close()


def test_loader_options():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert loader_options(cpu, 0) == {"num_workers": 0, "pin_memory": False, "persistent_workers": False}
    assert loader_options(cuda, 3, persistent=True) == {
        "num_workers": 3,
        "pin_memory": True,
        "persistent_workers": True,
        "prefetch_factor": 4,
    }
    assert loader_options(cuda, 0, persistent=True)["persistent_workers"] is False


def test_autocast_modes():
    assert AMP_MODES == ("off", "bf16", "fp16")
    assert amp_dtype(None) is None and amp_dtype("off") is None and amp_dtype("bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="amp must be one of off, bf16, fp16"):
        amp_dtype("int8")
    layer = torch.nn.Linear(4, 4)
    with autocast("bf16", torch.device("cpu")):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    with autocast("off", torch.device("cpu")):
        assert layer(torch.ones(1, 4)).dtype == torch.float32

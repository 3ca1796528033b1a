"""Genuine-format checkpoints for registry tests, made by the project's own writer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from zoo.models.densenet import DenseNet, DenseNetConfig


def lua_checkpoint_bytes(tmp_path: Path, config: DenseNetConfig, seed: int = 0) -> bytes:
    """A Torch7 checkpoint laid out like fb.resnet.torch's, via ``densenet_checkpoint`` and ``t7.save``."""
    from converters import t7
    from converters.synthetic.densenet import densenet_checkpoint

    path = tmp_path / f"lua-{seed}-{config.growth_rate}.t7"
    t7.save(densenet_checkpoint(config, layout="standard", seed=seed), str(path))
    return path.read_bytes()


def old_torchvision_pth_bytes(tmp_path: Path, config: DenseNetConfig, seed: int = 0) -> tuple[bytes, dict]:
    """A torchvision-style .pth with the old ``norm.1``-style keys; returns (bytes, the intended state dict)."""
    torch.manual_seed(seed)
    model = DenseNet(config)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    state_dict = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    old = {}
    for key, value in state_dict.items():
        for kind in ("norm", "relu", "conv"):
            for index in ("1", "2"):
                key = key.replace(f".{kind}{index}.", f".{kind}.{index}.") if ".denselayer" in key else key
        old[key] = value
    path = tmp_path / f"tv-{seed}.pth"
    torch.save(old, path)
    return path.read_bytes(), state_dict


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def fixed_input(config: DenseNetConfig, size: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(123)
    return torch.rand(2, 3, size, size, generator=generator)

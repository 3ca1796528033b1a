"""Where a run executes: the torchrun process group, this process's device, its decode workers and autocast.

Evaluation, prediction and training share this module, so that all of them pick a device,
join a process group, size their data loaders and switch on mixed precision the same way.

Launched by torchrun with ``WORLD_SIZE > 1``, a process joins the group over the ``env://``
rendezvous (``MASTER_ADDR``/``MASTER_PORT``/``RANK``/``WORLD_SIZE``), with NCCL for CUDA
devices and gloo for the CPU, so single-node and multi-node launches work alike. Launched
without torchrun, everything is one process and the collectives are no-ops.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from zoo.choices import AMP_DTYPE_NAMES, AMP_MODES

__all__ = [
    "AMP_MODES",
    "DistributedContext",
    "amp_dtype",
    "autocast",
    "default_workers",
    "init_distributed",
    "loader_options",
    "resolve_device",
]

#: The autocast dtype of each ``--amp`` mode (``off``: float32, no autocast).
AMP_DTYPES: dict[str, torch.dtype | None] = {
    mode: None if name is None else getattr(torch, name) for mode, name in AMP_DTYPE_NAMES.items()
}


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: rank, world size, local rank, its device, and whether it set the group up."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # noqa: RUF009 (immutable value)
    backend: str | None = None
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        """More than one process: the collectives communicate."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs and writes files."""
        return self.rank == 0

    def all_reduce(self, values: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """``values`` summed (``op="sum"``) or maximised (``op="max"``) over all ranks, on ``values``' device.

        The reduction runs where the backend can run it (this GPU for NCCL, the CPU for
        gloo); ``values`` itself may be overwritten. A single process gets ``values`` back.
        """
        if op not in ("sum", "max"):
            raise ValueError(f"all_reduce: op must be 'sum' or 'max', got {op!r}")
        if not self.distributed:
            return values
        collective = values.to(self.device if self.backend == "nccl" else torch.device("cpu"))
        dist.all_reduce(collective, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return collective.to(values.device)

    def all_gather_object(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (any picklable object), in rank order; ``[value]`` for a single process."""
        if not self.distributed:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def barrier(self) -> None:
        """Wait until every rank gets here (e.g. until rank 0 has written a file)."""
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        """Destroy the process group if this context created it (not one that its caller set up)."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def resolve_device(preference: torch.device | str | None = None, local_rank: int | None = None) -> torch.device:
    """The device a process runs on.

    ``None``/``"auto"`` pick CUDA when a GPU is visible, else the CPU. A CUDA device without
    an index means this process's GPU: ``cuda:local_rank`` under torchrun (pass
    ``local_rank``), the current CUDA device otherwise. Anything else (``"cpu"``,
    ``"cuda:1"``) is taken as given; asking for CUDA without a visible GPU is an error.
    """
    if preference is None or (isinstance(preference, str) and preference == "auto"):
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"--device {preference} was asked for but no CUDA GPU is visible; use --device cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank if local_rank is not None else torch.cuda.current_device())
    return device


def init_distributed(device: torch.device | str | None = None) -> DistributedContext:
    """This process's :class:`DistributedContext`: join the torchrun group, or report a single process.

    ``device`` is resolved by :func:`resolve_device` (with this process's ``LOCAL_RANK``
    under torchrun) and made the current CUDA device before the group starts, so NCCL
    binds each rank to its own GPU. A group that is already initialised (e.g. by training,
    around its validation) is used as it is and left open by :meth:`DistributedContext.close`.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    joined = dist.is_available() and dist.is_initialized()
    world_size = dist.get_world_size() if joined else int(os.environ.get("WORLD_SIZE", "1"))
    resolved = resolve_device(device, local_rank if world_size > 1 else None)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if joined:
        return DistributedContext(dist.get_rank(), world_size, local_rank, resolved, str(dist.get_backend()))
    if world_size <= 1:
        return DistributedContext(device=resolved)
    if not dist.is_available():
        raise RuntimeError(
            f"WORLD_SIZE={world_size} but this torch build has no torch.distributed; run a single process"
            " (without torchrun) or install a torch build with distributed support"
        )
    backend = "nccl" if resolved.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, resolved, backend, owns_group=True)


def default_workers(device: torch.device) -> int:
    """Decode workers per process: on a GPU the node's cores split among its processes (at most 16);
    on the CPU none (the model needs the cores; decoding runs in the main process)."""
    if device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(16, cores // max(1, local_processes) - 1))


def loader_options(device: torch.device, workers: int, persistent: bool = False) -> dict[str, Any]:
    """``DataLoader`` keyword arguments for ``workers`` decode processes feeding ``device``.

    Pinned host memory for CUDA (non-blocking copies), four batches prefetched per worker,
    and workers kept across epochs when ``persistent`` (training) and there are any.
    """
    options: dict[str, Any] = {
        "num_workers": workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": persistent and workers > 0,
    }
    if workers > 0:
        options["prefetch_factor"] = 4
    return options


def amp_dtype(amp: str | None) -> torch.dtype | None:
    """The autocast dtype of an ``--amp`` mode: ``None`` for ``None``/``"off"`` (float32)."""
    if amp is not None and amp not in AMP_DTYPES:
        raise ValueError(f"amp must be one of {', '.join(AMP_MODES)} (or None), got {amp!r}")
    return AMP_DTYPES[amp or "off"]


def autocast(amp: str | None, device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision for ``amp`` (``"bf16"``/``"fp16"`` autocast on ``device``); float32 for ``None``/``"off"``."""
    dtype = amp_dtype(amp)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)

"""Multi-process evaluation (torchrun): sharding in which every sample is counted exactly once.

``DistributedSampler`` pads the dataset by repeating samples so that every rank gets
the same number; counting those repeats would bias the error. Here each rank takes
the indices ``rank, rank + world, ...`` of the dataset, without padding; ranks may
get one sample more or less, which is harmless because evaluation only all-reduces
counts at the end. The final total is checked against the dataset length.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["DistributedContext", "ShardSampler", "all_gather_objects", "all_reduce", "init_distributed", "shard_indices"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank, the world size and whether it set the group up."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: torch.device | str | None = None) -> DistributedContext:
    """Join the process group that torchrun describes (``env://``), or report a single process.

    An already initialised group is used as it is. Otherwise, with ``WORLD_SIZE > 1`` in the
    environment, a group is created with NCCL for CUDA devices and gloo for the CPU.
    """
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
            backend=str(dist.get_backend()),
        )
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_available():
        raise RuntimeError(f"WORLD_SIZE={world_size} but this torch build has no torch.distributed")
    device_type = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        backend=backend,
        owns_group=True,
    )


def shard_indices(length: int, rank: int, world_size: int) -> list[int]:
    """This rank's dataset indices: ``rank, rank + world_size, ...`` (no padding, no repeats)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of size {world_size}")
    return list(range(rank, length, world_size))


class ShardSampler(Sampler[int]):
    """Yields a fixed list of indices in order (one rank's shard)."""

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = list(indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _collective_device(context: DistributedContext, device: torch.device) -> torch.device:
    return device if context.backend == "nccl" else torch.device("cpu")


def all_reduce(values: torch.Tensor, context: DistributedContext, device: torch.device, op: str = "sum") -> torch.Tensor:
    """Sum (or max) a tensor over all ranks; a no-op for a single process."""
    if not context.enabled:
        return values
    reduced = values.to(_collective_device(context, device)).clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return reduced.cpu()


def all_gather_objects(value: object, context: DistributedContext) -> list[object]:
    """Every rank's ``value``, in rank order; ``[value]`` for a single process."""
    if not context.enabled:
        return [value]
    gathered: list[object] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered

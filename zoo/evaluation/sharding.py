"""Multi-process evaluation (torchrun): sharding in which every sample is counted exactly once.

``DistributedSampler`` pads the dataset by repeating samples so that every rank gets
the same number; counting those repeats would bias the error. Here each rank takes
the indices ``rank, rank + world, ...`` of the dataset, without padding; ranks may
get one sample more or less, which is harmless because evaluation only all-reduces
counts at the end. The final total is checked against the dataset length.
The process group itself is set up by :func:`zoo.runtime.init_distributed`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler

__all__ = ["ShardSampler", "shard_indices"]


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

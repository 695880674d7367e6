"""Training batches whose every random choice follows from (seed, epoch, batch), so a run resumes exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from t2i.errors import ConfigError


def batch_seed(*parts: int) -> int:
    """Return a 63-bit seed that mixes integers (a seed, an epoch, a batch index, a rank) into one."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value ^ (int(part) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        value ^= value >> 31
    return value & 0x7FFFFFFFFFFFFFFF


class SeededBatches:
    """Iterate over whole training batches of a CaptionedImages, resuming where the run left off.

    The image order of each epoch and the caption, mismatch, crop and flip choices of each batch are
    drawn from generators seeded with (seed, epoch, batch index, rank). `batches_done` returns how many
    batches the run has trained, which Lightning restores from a checkpoint before iterating, so a resumed
    run continues with the very batch it would have trained next. Each of `world_size` processes takes
    every world_size-th image of the epoch's order, so distributed ranks see disjoint images.
    """

    def __init__(
        self, dataset, batch_size: int, seed: int, batches_done: Callable[[], int], rank: int = 0, world_size: int = 1
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.batches_done = batches_done
        self.rank = rank
        self.world_size = world_size
        if len(self) == 0:
            raise ConfigError(
                f"{len(dataset)} images shared by {world_size} processes make no full batch of {batch_size};"
                " lower --data.batch_size"
            )

    def __len__(self) -> int:
        return len(self.dataset) // self.world_size // self.batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        per_epoch = len(self)
        epoch, start = divmod(self.batches_done(), per_epoch)
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(batch_seed(self.seed, epoch)))
        shard = order[self.rank :: self.world_size]
        for position in range(start, per_epoch):
            indices = shard[position * self.batch_size : (position + 1) * self.batch_size]
            seed = batch_seed(self.seed, epoch, position, self.rank)
            batch = self.dataset.sample(indices, torch.Generator().manual_seed(seed))
            batch["augment_seed"] = torch.tensor(batch_seed(seed, 1))
            yield batch

"""Seeded training batches: one stream per fit, shared by every rank of a data-parallel fit.

Every step draws one batch from a :class:`torch.Generator` seeded with the fit's ``seed``; the
generator's state is stored in the checkpoint, so a resumed fit draws the batches the
uninterrupted one would have drawn. On ``N`` ranks every rank draws the same global batch of
``N * batch_size`` sequences and keeps its own rows (:class:`ShardedSampler`).
"""

from __future__ import annotations

import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset


class BatchSampler:
    """Random batches from a dataset (trials, or windows of them) or a batch (rows).

    Rows are drawn with replacement; from a :class:`~pyrodyn.data.batch.MultimodalBatch` with
    at most ``batch_size`` rows the whole batch is returned (without drawing).

    Args:
        data: the training data.
        batch_size: sequences per batch.
        window: window length drawn within each trial (None: whole trials).
        generator: the seeded stream the batches are drawn from.
    """

    def __init__(
        self,
        data: MultimodalDataset | MultimodalBatch,
        batch_size: int,
        window: int | None,
        generator: torch.Generator,
    ) -> None:
        self.data, self.batch_size, self.window = data, int(batch_size), window
        self.generator = generator

    def __call__(self) -> MultimodalBatch:
        """The next batch of the stream."""
        if isinstance(self.data, MultimodalDataset):
            return self.data.sample_batch(
                self.batch_size, window=self.window, generator=self.generator
            )
        n = self.data.num_sequences
        if self.batch_size >= n:
            return self.data
        idx = torch.randint(n, (self.batch_size,), generator=self.generator)
        return self.data[idx.to(self.data.device)]

    def peek(self) -> MultimodalBatch:
        """The batch the next call returns, without advancing the stream."""
        state = self.generator.get_state()
        try:
            return self()
        finally:
            self.generator.set_state(state)


class ShardedSampler:
    """Rank ``rank``'s rows of one global batch of ``world_size * batch_size`` sequences.

    With one rank this is the plain :class:`BatchSampler` stream.

    Args:
        data: the training data.
        batch_size: sequences per rank.
        window: window length (None: whole trials).
        generator: the stream every rank seeds identically.
        rank: this process's rank.
        world_size: number of ranks.
    """

    def __init__(
        self,
        data: MultimodalDataset | MultimodalBatch,
        batch_size: int,
        window: int | None,
        generator: torch.Generator,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.stream = BatchSampler(data, batch_size * world_size, window, generator)
        n = batch_size * world_size
        if isinstance(data, MultimodalBatch):
            n = min(n, data.num_sequences)
        per = -(-n // world_size)  # ceil: the last rank may get fewer rows of a small batch
        self.rows = None if world_size == 1 else slice(rank * per, min((rank + 1) * per, n))

    def __call__(self) -> MultimodalBatch:
        """This rank's rows of the next global batch."""
        batch = self.stream()
        return batch if self.rows is None else batch[self.rows]


__all__ = ["BatchSampler", "ShardedSampler"]

"""The validation loss of a fit: fixed batches, their own random stream, normaliser-weighted."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.infer.checkpoint import forked_rng
from pyrodyn.models.base import GenerativeModel


def validation_batches(
    data: MultimodalDataset | MultimodalBatch, window: int | None, chunk: int
) -> list[MultimodalBatch]:
    """The validation data cut into batches of at most ``chunk`` sequences.

    A dataset is cut into consecutive windows of length ``window`` (whole trials without a
    window, for static data, or when the window is longer than the trials).
    """
    if isinstance(data, MultimodalBatch):
        full = data
    elif window is not None and not data.static and window <= data.num_steps:
        full = data.windows(window)
    else:
        full = data.batch()
    n = full.num_sequences
    return [full[slice(i, min(i + chunk, n))] for i in range(0, n, chunk)]


def validation_loss(
    model: GenerativeModel,
    batches: list[MultimodalBatch],
    values: Mapping[str, float],
    seed: int,
    device: torch.device,
) -> float:
    """Mean loss over the batches, weighted by each batch's normaliser (eval mode, no grad).

    Runs on its own random stream (torch seeded with ``seed + 2``, the training streams
    borrowed and given back), so validating never changes the training trajectory.
    """
    model.eval()
    try:
        with forked_rng(device), torch.no_grad():
            torch.manual_seed(seed + 2)
            num, den = 0.0, 0.0
            for b in batches:
                total, _ = model.loss(b, **values)
                norm = float(model.normaliser(b))
                num += float(total) * norm
                den += norm
        return num / max(den, 1e-12)
    finally:
        model.train()


__all__ = ["validation_batches", "validation_loss"]

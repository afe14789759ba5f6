"""How the training loop talks to its peers: one process, or the ranks of a Fabric DDP job.

The loop (:mod:`pyrodyn.infer.loop`) is written once against :class:`Strategy`; a strategy says
which rank this is, how the loss is evaluated and back-propagated (DDP synchronises gradients of
what its wrapped module computes), how per-rank numbers are reduced, and how rank 0's decisions
reach the others. :class:`Strategy` itself is the single-process case where all of that is the
identity; :class:`FabricStrategy` runs on Lightning Fabric's DDP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.models.base import GenerativeModel


def rank_seed(seed: int, rank: int) -> int:
    """Seed of a rank's own randomness (guide draws, dropout).

    Rank 0 keeps ``seed`` (so rank 0 of a data-parallel fit draws what ``fit`` draws); the others
    get independent streams derived from ``(seed, rank)``.
    """
    if rank == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0])


class Strategy:
    """One process: the loop's collective operations are the identity.

    Args:
        device: the torch device the model trains on.
    """

    rank: int = 0
    world_size: int = 1

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        #: Largest difference between the ranks' parameter fingerprints (set by :meth:`finish`).
        self.divergence = 0.0

    @property
    def is_main(self) -> bool:
        """Whether this rank writes checkpoints, history and progress and runs callbacks."""
        return self.rank == 0

    def setup(
        self, model: GenerativeModel, optimizer: torch.optim.Optimizer
    ) -> tuple[Callable[..., Any], Any]:
        """``(loss function batch, **values -> (total, terms), optimizer to step)``."""
        return model.loss, optimizer

    def backward(self, total: torch.Tensor) -> None:
        """Back-propagates the loss."""
        total.backward()

    def mean(self, values: Mapping[str, float]) -> dict[str, float]:
        """Each value averaged over the ranks that report it."""
        return dict(values)

    def broadcast(self, values: Sequence[int]) -> list[int]:
        """Rank 0's integers, on every rank."""
        return [int(v) for v in values]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (a collective: all ranks must call it)."""
        return [obj]

    def finish(self, model: nn.Module) -> None:
        """Called by every rank after the last step (checks that the ranks agree)."""
        self.divergence = 0.0


class LossModule(nn.Module):
    """``forward`` = ``model.loss``: DDP synchronises the gradients of what forward computes."""

    def __init__(self, model: GenerativeModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: MultimodalBatch, **scheduled: Any) -> Any:
        """The model's ``(total, terms)``."""
        return self.model.loss(batch, **scheduled)


def fingerprint(model: nn.Module) -> torch.Tensor:
    """A few float64 projections of all parameters (equal iff the ranks agree, in practice)."""
    flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
    w = torch.rand(flat.numel(), generator=torch.Generator().manual_seed(1234), dtype=flat.dtype)
    return torch.stack([flat.sum(), (flat * w).sum(), flat.abs().max(), flat.square().sum()])


class FabricStrategy(Strategy):
    """One rank of a Lightning Fabric DDP job (the process group is Fabric's).

    Args:
        fabric: the launched ``lightning.fabric.Fabric`` of this process.
    """

    def __init__(self, fabric: Any) -> None:
        super().__init__(torch.device(fabric.device))
        self.fabric = fabric
        self.rank, self.world_size = int(fabric.global_rank), int(fabric.world_size)

    def setup(
        self, model: GenerativeModel, optimizer: torch.optim.Optimizer
    ) -> tuple[Callable[..., Any], Any]:
        """Wraps ``model.loss`` in DDP and the optimizer in Fabric's."""
        return self.fabric.setup(LossModule(model), optimizer)

    def backward(self, total: torch.Tensor) -> None:
        """Back-propagates through Fabric (DDP all-reduces the gradients)."""
        self.fabric.backward(total)

    def mean(self, values: Mapping[str, float]) -> dict[str, float]:
        """Each value averaged over the ranks that report it (one all-gather)."""
        gathered = self.gather(dict(values))
        keys = dict.fromkeys(k for g in gathered for k in g)
        return {
            k: sum(g[k] for g in gathered if k in g) / sum(1 for g in gathered if k in g)
            for k in keys
        }

    def broadcast(self, values: Sequence[int]) -> list[int]:
        """Rank 0's integers, on every rank (one broadcast)."""
        if self.world_size == 1:
            return super().broadcast(values)
        import torch.distributed as dist

        t = torch.tensor([int(v) for v in values], dtype=torch.int64, device=self.device)
        dist.broadcast(t, src=0)
        return [int(v) for v in t.tolist()]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        if self.world_size == 1:
            return super().gather(obj)
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def finish(self, model: nn.Module) -> None:
        """Compares the ranks' parameter fingerprints (0.0 when they hold identical weights)."""
        prints = self.gather(fingerprint(model))
        self.divergence = max(float((p - prints[0]).abs().max()) for p in prints)


__all__ = ["FabricStrategy", "LossModule", "Strategy", "fingerprint", "rank_seed"]

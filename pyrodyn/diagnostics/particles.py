"""Guide draws vectorised over particles, and the model replayed on them.

``S`` draws per sequence come from one guide pass under an outer ``pyro.plate`` of size ``S``
placed left of every plate of the model and the guide (as ``Predictive(parallel=True)`` does):
the encoder runs once per sequence, not once per draw, and every site gains a leading draw
dimension. The model can be replayed on the draws with a batch of its own (same rows, other
masks or observations), which is how leave-future-out CV scores the future that the guide was
not shown.
"""

from __future__ import annotations

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine import Trace
from torch import Tensor
from torch.distributions import Independent

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.models.base import GenerativeModel

DRAWS_PLATE = "_pyrodyn_draws"


def _nesting(trace: Trace) -> int:
    return max(
        (
            -f.dim
            for site in trace.nodes.values()
            for f in site.get("cond_indep_stack", ())
            if f.vectorized and f.dim is not None
        ),
        default=0,
    )


def draws_dim(model: GenerativeModel, batch: MultimodalBatch, *, replay: bool = False) -> int:
    """The plate dim for the draws: left of every plate of the guide (and of the model).

    One unvectorised guide pass (and a model pass replayed on it with ``replay``) finds the
    deepest plate.
    """
    guide_tr = poutine.trace(model.guide).get_trace(batch)
    deepest = _nesting(guide_tr)
    if replay:
        model_tr = poutine.trace(poutine.replay(model.model, trace=guide_tr)).get_trace(batch)
        deepest = max(deepest, _nesting(model_tr))
    return -deepest - 1


def trace_draws(
    model: GenerativeModel,
    guide_batch: MultimodalBatch,
    num_draws: int,
    dim: int,
    model_batch: MultimodalBatch | None = None,
) -> tuple[Trace, Trace | None]:
    """The guide traced with ``num_draws`` draws on ``guide_batch`` (and the model replayed).

    Args:
        model: the model (run inside ``local_params`` and ``no_grad`` by the caller).
        guide_batch: what the guide encodes.
        num_draws: S.
        dim: the draws plate dim (:func:`draws_dim`).
        model_batch: the batch the model is replayed on (None: no model trace).

    Returns:
        ``(guide_trace, model_trace or None)``; local latent sites are ``(S, B, ...)``.
    """
    with pyro.plate(DRAWS_PLATE, int(num_draws), dim=dim):
        guide_tr = poutine.trace(model.guide).get_trace(guide_batch)
        if model_batch is None:
            return guide_tr, None
        replayed = poutine.replay(model.model, trace=guide_tr)
        model_tr = poutine.trace(replayed).get_trace(model_batch)
    return guide_tr, model_tr


def trace_conditioned(
    model: GenerativeModel,
    batch: MultimodalBatch,
    values: dict[str, Tensor],
    num_draws: int,
    dim: int,
) -> Trace:
    """The model traced on ``batch`` with its latent sites set to ``values`` ``(S, B, ...)``."""
    with pyro.plate(DRAWS_PLATE, int(num_draws), dim=dim):
        return poutine.trace(poutine.condition(model.model, data=values)).get_trace(batch)


def _site_mask(lp: Tensor, mask: object) -> Tensor:
    if mask is False:
        return torch.zeros_like(lp)
    if isinstance(mask, Tensor):
        return torch.where(mask, lp, lp.new_zeros(()))
    return lp


def per_draw_log_prob(site: dict, num_draws: int, dim: int) -> Tensor:
    """A site's log-density per draw and sequence: ``(S, B)`` (inner plates summed).

    The sequence plate is dim -1 (:meth:`GenerativeModel.plate`); poutine scales are ignored
    (the model's true density), poutine masks applied.
    """
    lp = _site_mask(site["fn"].log_prob(site["value"]), site["mask"])
    while lp.dim() < -dim:
        lp = lp.unsqueeze(0)
    lp = lp.expand(int(num_draws), *lp.shape[1:])
    return lp.reshape(lp.shape[0], -1, lp.shape[-1]).sum(1)


def pointwise_log_lik(site: dict, num_draws: int, dim: int) -> Tensor:
    """Per-step ``log p(x_t | z)`` of an observe site of sequences: ``(S, B, T)``.

    The site's distribution is unwrapped to its per-entry base (masked entries give 0); the
    first reinterpreted event dim is time, the others are summed.
    """
    d, k = site["fn"], 0
    while isinstance(d, Independent):
        k += d.reinterpreted_batch_ndims
        d = d.base_dist
    if k < 1:
        raise ValueError("an observe site of sequences needs a time event dim")
    lp = d.log_prob(site["value"])
    if k > 1:
        lp = lp.sum(tuple(range(-(k - 1), 0)))
    mask = site["mask"]
    lp = _site_mask(lp, mask.unsqueeze(-1) if isinstance(mask, Tensor) else mask)
    # (S, [inner plates,] B, T)
    while lp.dim() < -dim + 1:
        lp = lp.unsqueeze(0)
    lp = lp.expand(int(num_draws), *lp.shape[1:])
    return lp.reshape(lp.shape[0], -1, *lp.shape[-2:]).sum(1)


__all__ = [
    "DRAWS_PLATE",
    "draws_dim",
    "per_draw_log_prob",
    "pointwise_log_lik",
    "trace_conditioned",
    "trace_draws",
]

"""One model/guide pass with the draws as a plate: what :func:`draw_posterior` reads per pass.

The guide runs once per sequence under an outer plate of ``r`` draws
(:func:`~pyrodyn.diagnostics.particles.trace_draws`), instead of once per draw on ``r`` repeated
copies of the batch: the encoder, usually the costliest part of a guide, is not repeated. The
sites are read as :func:`~pyrodyn.diagnostics.sampling.draw_posterior` reads them and returned
with the draws flattened into rows, draw-major (``(r * B, ...)``), the layout of a pass over
repeated rows.
"""

from __future__ import annotations

import torch
from pyro.poutine.util import site_is_subsample
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.particles import (
    per_draw_log_prob,
    pointwise_log_lik,
    trace_draws,
)
from pyrodyn.diagnostics.sites import (
    _in_plate,
    _is_deterministic,
    _is_latent,
    _modality_of,
    _support_kind,
)
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.params import local_params


class NotVectorisable(Exception):
    """The model's sites do not take a leading draws dimension (fall back to repeated rows)."""


def _rows(x: Tensor, r: int, b: int, what: str) -> Tensor:
    """``(r, B, ...)`` (or ``(B, ...)``, shared by the draws) -> ``(r * B, ...)``."""
    if x.dim() >= 2 and tuple(x.shape[:2]) == (r, b):
        return x.reshape(r * b, *x.shape[2:])
    if x.dim() >= 1 and x.shape[0] == b:
        return x.expand(r, *x.shape).reshape(r * b, *x.shape[1:])
    raise NotVectorisable(f"{what} has shape {tuple(x.shape)}, not (draws={r}, B={b}, ...)")


def particle_pass(
    model: GenerativeModel, batch: MultimodalBatch, r: int, dim: int, predictive: bool
) -> tuple[dict, dict, dict, dict, Tensor, Tensor, dict, dict]:
    """``r`` draws per sequence of ``batch`` in one vectorised pass.

    Args:
        model: the model (in eval mode, under ``no_grad``).
        batch: B sequences.
        r: draws.
        dim: the draws plate dim (:func:`~pyrodyn.diagnostics.particles.draws_dim`); only
            ``-2`` (the sequence plate is the only plate) is supported.
        predictive: also draw the observe sites.

    Returns:
        ``(local, global, deterministic, log_lik, log_prior, log_q, predictive, kind)`` with
        rows ``(r * B, ...)``, as the repeated-rows pass of
        :func:`~pyrodyn.diagnostics.sampling.draw_posterior` returns them.

    Raises:
        NotVectorisable: inner plates, global latent sites, or sites without the draws dim.
    """
    if dim != -2:
        raise NotVectorisable(f"the model has plates inside the sequence plate (draws dim {dim})")
    b, lead = batch.num_sequences, 1 if batch.static else 2
    with local_params(model):
        guide_tr, model_tr = trace_draws(model, batch, r, dim, batch)
    guided = {n for n, s in guide_tr.nodes.items() if _is_latent(s)}
    local, determ, ll, pp, kind = {}, {}, {}, {}, {}
    log_prior: Tensor | float = 0.0
    log_q: Tensor | float = 0.0
    for name, site in model_tr.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if _is_deterministic(site):
            try:
                determ[name] = _rows(site["value"], r, b, name)
            except NotVectorisable:
                pass  # not per sequence: the repeated-rows pass skips such sites too
            continue
        if site["is_observed"] and name not in guided:
            m = _modality_of(name, model.modalities)
            if m is None:
                log_prior = log_prior + per_draw_log_prob(site, r, dim)
                continue
            lp = per_draw_log_prob(site, r, dim) if lead == 1 else pointwise_log_lik(site, r, dim)
            ll[m] = lp if m not in ll else ll[m] + lp
            if m not in kind:
                kind[m] = _support_kind(site["fn"])
                if predictive:
                    pp[m] = _rows(site["fn"].sample(), r, b, f"a draw of {m!r}")
            continue
        if not _is_latent(site):
            continue
        if not _in_plate(site):
            raise NotVectorisable(f"the latent site {name!r} is global (outside the plate)")
        log_prior = log_prior + per_draw_log_prob(site, r, dim)
        if name in guided:
            gsite = guide_tr.nodes[name]
            log_q = log_q + per_draw_log_prob(gsite, r, dim)
            local[name] = _rows(gsite["value"], r, b, name)
    missing = sorted(guided - set(model_tr.nodes))
    if missing:
        raise ValueError(
            f"the guide samples {missing}, which the model does not; importance weights need "
            "the guide's latent sites to be the model's"
        )
    flat = {m: _rows(v, r, b, m) for m, v in ll.items()}
    zeros = torch.zeros(r * b)
    log_prior = zeros + (log_prior if isinstance(log_prior, float) else log_prior.reshape(-1))
    log_q = zeros + (log_q if isinstance(log_q, float) else log_q.reshape(-1))
    return local, {}, determ, flat, log_prior, log_q, pp, kind


__all__ = ["NotVectorisable", "particle_pass"]

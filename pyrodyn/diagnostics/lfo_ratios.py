"""Importance ratios of one leave-future-out origin, for the two proposals of :func:`lfo`.

For an origin ``i`` (a prefix length), a horizon ``h`` and the prefix length ``a <= i`` of the
last fit, :func:`origin_ratios` returns per sequence and draw the log ratios
``log p(z, y_{1:i}) - log q(z)`` towards ``p(z_{1:i+h} | y_{1:i})`` and the future log-likelihood
``log p(y_{i+1:i+h} | z)``, with the latents after ``a`` drawn by the prior's continuation or by
the guide shown those steps as missing (see :mod:`pyrodyn.diagnostics.lfo`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyro.poutine as poutine
import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.particles import (
    per_draw_log_prob,
    pointwise_log_lik,
    trace_conditioned,
    trace_draws,
)
from pyrodyn.diagnostics.psis import CONSTANT_RTOL
from pyrodyn.diagnostics.sampling import _is_latent, _modality_of
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.params import local_params
from pyrodyn.priors.base import LatentPrior, PriorContext


def prefix(batch: MultimodalBatch, steps: int) -> MultimodalBatch:
    """The first ``steps`` steps of every sequence."""
    t = batch.num_steps

    def cut(x: Tensor | None) -> Tensor | None:
        return None if x is None else x[:, :steps]

    return replace(
        batch,
        obs={m: x[:, :steps] for m, x in batch.obs.items()},
        mask={m: x[:, :steps] for m, x in batch.mask.items()},
        times=cut(batch.times),
        lengths=None if batch.lengths is None else batch.lengths.clamp(max=steps),
        inputs=cut(batch.inputs),
        extras={
            k: (v[:, :steps] if v.dim() >= 2 and v.shape[1] == t else v)
            for k, v in batch.extras.items()
        },
    )


def _hide_after(batch: MultimodalBatch, anchor: Tensor) -> MultimodalBatch:
    """Every entry after step ``anchor[b]`` of row ``b`` marked missing (what the guide sees)."""
    seen = torch.arange(batch.num_steps, device=batch.device) < anchor.to(batch.device)[:, None]
    mask = {}
    for m, x in batch.mask.items():
        mask[m] = x & seen.reshape(*seen.shape, *([1] * (x.dim() - 2)))
    return replace(batch, mask=mask)


def _log_q(trace: poutine.Trace, num_draws: int, dim: int) -> Tensor:
    return sum(
        per_draw_log_prob(site, num_draws, dim)
        for site in trace.nodes.values()
        if site["type"] == "sample" and _is_latent(site)
    )


def _log_joint(
    model: GenerativeModel, trace: poutine.Trace, num_draws: int, dim: int
) -> tuple[Tensor, Tensor]:
    """``(S, B)`` log-density of latents and factor terms; ``(S, B, T)`` observation terms."""
    joint, ll = 0.0, 0.0
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or not (site["is_observed"] or _is_latent(site)):
            continue
        if site["is_observed"] and _modality_of(name, model.modalities) is not None:
            ll = ll + pointwise_log_lik(site, num_draws, dim)
        else:
            joint = joint + per_draw_log_prob(site, num_draws, dim)
    return joint, ll


def continuation_priors(
    model: GenerativeModel, batch: MultimodalBatch
) -> dict[str, LatentPrior] | str:
    """Latent site -> its prior, when every latent site can be continued by its prior.

    Otherwise the reason why not (a site whose prior has no continuation or is not a
    ``(T, D)`` trajectory, or factor terms, which a continuation does not account for).
    """
    with torch.no_grad(), local_params(model):
        # site names are defined inside a running (here: quiet) module context only
        priors = {p.site_name: p for p in model.modules() if isinstance(p, LatentPrior)}
        guide_tr = poutine.trace(model.guide).get_trace(batch)
        trace = poutine.trace(poutine.replay(model.model, trace=guide_tr)).get_trace(batch)
    found: dict[str, LatentPrior] = {}
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or name == "sequences":
            continue
        if site["is_observed"]:
            if _modality_of(name, model.modalities) is None:
                return f"the model has the factor term {name!r}"
            continue
        if not _is_latent(site):
            continue
        prior = priors.get(name)
        if prior is None or type(prior).continuation is LatentPrior.continuation:
            return f"the latent site {name!r} has no prior with a continuation"
        if site["value"].shape[:2] != (batch.num_sequences, batch.num_steps):
            return f"the latent site {name!r} is not a (T, D) trajectory"
        found[name] = prior
    return found


def _evaluate_guided(
    model: GenerativeModel,
    batch: MultimodalBatch,
    origin: int,
    horizon: int,
    anchor: Tensor,
    num_draws: int,
    dim: int,
) -> tuple[Tensor, Tensor]:
    """Log ratios and future log-likelihoods ``(S, B)``: the guide draws the future latents."""
    rows = prefix(batch, origin + horizon)
    guide_tr, model_tr = trace_draws(model, _hide_after(rows, anchor), num_draws, dim, rows)
    joint, ll = _log_joint(model, model_tr, num_draws, dim)
    log_q = _log_q(guide_tr, num_draws, dim)
    return joint + ll[..., :origin].sum(-1) - log_q, ll[..., origin:].sum(-1)


def _evaluate_continued(
    model: GenerativeModel,
    batch: MultimodalBatch,
    origin: int,
    horizon: int,
    anchor: int,
    num_draws: int,
    dim: int,
    priors: dict[str, LatentPrior],
) -> tuple[Tensor, Tensor]:
    """Log ratios and future log-likelihoods ``(S, B)``: the prior continues the fit's draws."""
    fit = prefix(batch, anchor)
    rows = prefix(batch, origin + horizon)
    guide_tr, model_tr = trace_draws(model, fit, num_draws, dim, fit)
    prefix_joint, _ = _log_joint(model, model_tr, num_draws, dim)
    log_q = _log_q(guide_tr, num_draws, dim)
    ctx = PriorContext.of_batch(rows)
    values = {}
    for name, prior in priors.items():
        z = guide_tr.nodes[name]["value"]
        z = z.expand(num_draws, *z.shape[-3:])
        values[name] = torch.cat([z, prior.continuation(z, ctx)], -2)
    _, ll = _log_joint(
        model, trace_conditioned(model, rows, values, num_draws, dim), num_draws, dim
    )
    return prefix_joint + ll[..., :origin].sum(-1) - log_q, ll[..., origin:].sum(-1)


def origin_ratios(
    model: GenerativeModel,
    batch: MultimodalBatch,
    origin: int,
    horizon: int,
    anchor: Tensor,
    num_draws: int,
    dim: int,
    priors: dict[str, LatentPrior] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log ratios ``(B, S)``, future log-likelihoods ``(B, S)`` and constant flags ``(B,)``."""
    if priors is None:
        ratios, future = _evaluate_guided(model, batch, origin, horizon, anchor, num_draws, dim)
    else:
        shape = (num_draws, batch.num_sequences)
        ratios, future = (
            torch.empty(shape, dtype=torch.float64),
            torch.empty(shape, dtype=torch.float64),
        )
        for a in anchor.unique().tolist():
            rows = (anchor == a).nonzero().squeeze(-1)
            r, f = _evaluate_continued(
                model, batch[rows], origin, horizon, int(a), num_draws, dim, priors
            )
            ratios[:, rows], future[:, rows] = r.double().cpu(), f.double().cpu()
    ratios = ratios.double().cpu().numpy().T
    spread = ratios.max(1) - ratios.min(1)
    constant = spread <= CONSTANT_RTOL * np.maximum(1.0, np.abs(ratios).max(1))
    return ratios, future.double().cpu().numpy().T, constant


__all__ = ["continuation_priors", "origin_ratios", "prefix"]

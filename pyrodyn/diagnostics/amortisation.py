"""Amortisation gap: how much ELBO a per-trial guide gains over the amortised one.

The ELBO of an amortised guide falls short of the best ELBO of its family by the amortisation
gap (Cremer, Li and Duvenaud, "Inference suboptimality in variational autoencoders", ICML 2018).
Here each trial's Gaussian guide parameters (the encoder's output) are copied into free
parameters and refined by gradient ascent on that trial's ELBO; the gap is
``ELBO(refined) - ELBO(amortised)`` per trial. It is available when every latent site of the
guide is a (possibly ``to_event``-wrapped, possibly masked) Normal under the sequence plate;
other guides return None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample
from torch import Tensor
from torch.distributions import Independent, Normal

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.sampling import _in_plate, _is_latent, _row_log_prob
from pyrodyn.models.base import GenerativeModel


@dataclass
class _GaussSite:
    name: str
    loc: Tensor  # (B, *site_shape)
    log_scale: Tensor
    mask: Tensor | None  # bool, broadcastable to loc, or None


def _unwrap_normal(fn: torch.distributions.Distribution) -> tuple[Normal | None, Tensor | None]:
    d, mask = fn, None
    while True:
        if isinstance(d, Independent):
            d = d.base_dist
        elif type(d).__name__ == "MaskedDistribution":
            mask = d._mask
            d = d.base_dist
        else:
            break
    return (d, mask) if isinstance(d, Normal) else (None, None)


def _gaussian_sites(model: GenerativeModel, batch: MultimodalBatch) -> list[_GaussSite] | None:
    with torch.no_grad():
        tr = poutine.trace(model.guide).get_trace(batch)
    sites = []
    for name, site in tr.nodes.items():
        if not _is_latent(site):
            continue
        normal, mask = _unwrap_normal(site["fn"])
        if normal is None or not _in_plate(site):
            return None
        shape = site["value"].shape
        loc = normal.loc.expand(shape).detach().clone()
        scale = normal.scale.expand(shape).detach().clone()
        sites.append(_GaussSite(name, loc, scale.log(), mask))
    return sites or None


def _elbo_rows(
    model: GenerativeModel, batch: MultimodalBatch, sites: list[_GaussSite], particles: int
) -> Tensor:
    """Per-trial Monte-Carlo ELBO ``(B,)`` of the Gaussian guide given by ``sites``."""
    b = batch.num_sequences
    rows = batch if particles == 1 else batch[torch.arange(b).repeat(particles)]
    values, log_q = {}, 0.0
    for s in sites:
        loc = s.loc.expand(particles, *s.loc.shape)
        scale = s.log_scale.exp().expand_as(loc)
        z = loc + scale * torch.randn_like(loc)
        lq = Normal(loc, scale).log_prob(z)
        if s.mask is not None:
            lq = torch.where(s.mask.expand_as(lq), lq, lq.new_zeros(()))
        log_q = log_q + lq.reshape(particles, b, -1).sum(-1)
        values[s.name] = z.reshape(particles * b, *z.shape[2:])
    tr = poutine.trace(poutine.condition(model.model, data=values)).get_trace(rows)
    log_p = 0.0
    for site in tr.nodes.values():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if site.get("infer", {}).get("_deterministic", False):
            continue
        log_p = log_p + _row_log_prob(site, rows.num_sequences)
    return (log_p.reshape(particles, b) - log_q).mean(0)


@torch.no_grad()
def _elbo_eval(
    model: GenerativeModel,
    batch: MultimodalBatch,
    sites: list[_GaussSite],
    particles: int,
    max_rows: int,
) -> Tensor:
    per_pass = max(1, max_rows // batch.num_sequences)
    total, done = 0.0, 0
    while done < particles:
        r = min(per_pass, particles - done)
        total = total + r * _elbo_rows(model, batch, sites, r)
        done += r
    return total / particles


def amortisation_gap(
    model: GenerativeModel,
    batch: MultimodalBatch,
    *,
    steps: int = 200,
    lr: float = 0.05,
    particles: int = 16,
    eval_particles: int = 1024,
    max_rows: int = 4096,
) -> np.ndarray | None:
    """Per-trial amortisation gap ``(B,)``, or None when the guide is not Gaussian per trial.

    Args:
        model: a fitted ELBO model.
        batch: the trials.
        steps: Adam steps of the per-trial refinement.
        lr: initial Adam learning rate (decayed linearly to ``lr / 10``).
        particles: reparameterised draws per step.
        eval_particles: draws for the two ELBO estimates (common random numbers).
        max_rows: at most this many sequence rows per model pass.
    """
    if steps < 0 or particles < 1 or eval_particles < 1:
        raise ValueError(
            f"need steps >= 0, particles >= 1, eval_particles >= 1; got {steps}, {particles}, "
            f"{eval_particles}"
        )
    was_training = model.training
    model.eval()
    try:
        sites = _gaussian_sites(model, batch)
        if sites is None:
            return None
        state = torch.get_rng_state()
        before = _elbo_eval(model, batch, sites, eval_particles, max_rows)
        params = []
        for s in sites:
            s.loc.requires_grad_(True)
            s.log_scale.requires_grad_(True)
            params += [s.loc, s.log_scale]
        frozen = [p for p in model.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            # plain Adam (Kingma and Ba 2015); torch.optim would import torch._dynamo (seconds)
            m1 = [torch.zeros_like(p) for p in params]
            m2 = [torch.zeros_like(p) for p in params]
            b1, b2, eps = 0.9, 0.999, 1e-8
            for i in range(int(steps)):
                # linear decay to lr/10 damps the Monte-Carlo noise of the final iterates
                step_lr = lr * (1.0 - 0.9 * i / max(int(steps), 1))
                loss = -_elbo_rows(model, batch, sites, particles).sum()
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    for p, g, a, v in zip(params, grads, m1, m2):
                        a.mul_(b1).add_(g, alpha=1 - b1)
                        v.mul_(b2).addcmul_(g, g, value=1 - b2)
                        a_hat = a / (1 - b1 ** (i + 1))
                        v_hat = v / (1 - b2 ** (i + 1))
                        p.sub_(step_lr * a_hat / (v_hat.sqrt() + eps))
        finally:
            for p in frozen:
                p.requires_grad_(True)
        torch.set_rng_state(state)
        after = _elbo_eval(model, batch, sites, eval_particles, max_rows)
    finally:
        model.train(was_training)
    return (after - before).detach().cpu().double().numpy()

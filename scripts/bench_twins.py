"""Plain-torch twins of the composed models' losses, for the ``overhead`` part of bench.py.

Each twin computes ``model.loss(batch)[0]`` without Pyro (no sample/param/factor sites, no
poutine handlers): it calls the model's own torch modules, likelihood ``log_prob`` and
``torch.distributions``, and draws the same random numbers in the same order as the model's
guide and model, so that at the same ``pyro.set_rng_seed`` both give the same value. The time
of a twin's SVI step is then what the loss costs without Pyro's machinery (traces, messengers,
site bookkeeping). Recipe options (loss weights, KL weight, input noise) are read from
``model.elbo.options``, so a twin follows the objective's defaults; scheduled values are not
supported (bench.py schedules nothing).

A twin runs under one :func:`~pyrodyn.models.params.local_params` of the model, as
``model.loss`` does: the model's public methods then skip their own per-call wrapper, so the
twin pays the same one-off cost for reading parameters of its ``PyroModule`` parts.

bench.py loads this file by path (scripts/ is not a package); tests/scripts/test_bench_twins.py
checks every twin against ``model.loss``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Independent, Normal, kl_divergence

from pyrodyn.models.params import local_params

Twin = Callable[[Any, Any], torch.Tensor]


def _local(fn: Twin) -> Twin:
    """Runs a twin under one ``local_params`` of the model (what ``model.loss`` pays)."""

    @functools.wraps(fn)
    def wrapper(model: Any, batch: Any) -> torch.Tensor:
        with local_params(model):
            return fn(model, batch)

    return wrapper


def _nll(model: Any, batch: Any, params: dict, steps: torch.Tensor | None = None) -> torch.Tensor:
    """``-sum_m w_m log p_m(x_m | params_m)``, masked as ``GenerativeModel.observe`` masks.

    ``steps`` ``(B, T)`` bool restricts the scored steps (``observe``'s ``step_mask``).
    """
    total = 0.0
    for m in model.modalities:
        mask = batch.mask[m]
        if steps is not None:
            mask = mask & steps.reshape(*steps.shape, *([1] * (mask.dim() - 2)))
        lp = model.likelihoods[m].log_prob(params[m], batch.obs[m], mask)
        total = total - model.modality_weights[m] * lp.sum()
    return total


@_local
def svae_twin(model: Any, batch: Any) -> torch.Tensor:
    """SVAE's negative ELBO per observed step without Pyro (same draws as ``model.loss``)."""
    q = model.posterior(batch)
    z = q.rsample()
    prior = model.prior.distribution(model._context(batch))
    kl = q.log_prob(z).sum() - prior.log_prob(z).sum()
    params = {m: model.decoders[m](z) for m in model.modalities}
    return (_nll(model, batch, params) + kl) / float(model.normaliser(batch))


@_local
def mmgpvae_twin(model: Any, batch: Any) -> torch.Tensor:
    """MM-GPVAE's loss (closed-form KLs) without Pyro (same draws as ``model.loss``)."""
    model._check(batch)
    model.init_from_data(batch)
    ctx = model.context(batch)
    qs = model.posteriors(batch)
    total = 0.0
    latents = {}
    for name, prior in model.groups().items():
        q = qs[name]
        q = q.to_event(len(q.batch_shape) - 1)
        v = q.rsample()
        p = prior.distribution(ctx)
        total = total + kl_divergence(q, p).sum()
        hyper = getattr(prior, "hyperprior_log_prob", lambda: None)()
        if hyper is not None:
            total = total - hyper
        latents[name] = prior.to_latent(v, ctx)
    params = model._decode_params(latents)
    nll = _nll(model, batch, params, batch.valid_steps())
    return (total + nll) / float(model.normaliser(batch))


@_local
def mtf_twin(model: Any, batch: Any) -> torch.Tensor:
    """MTF's objective (MTFObjective: rec + obs + lat - entropy [+ fusion]) without Pyro.

    Joint encoder and the flat prior (the shipped configuration); per-modality encoders, other
    priors and generalized forcing are not covered.
    """
    from pyrodyn.models.mtf.encoding import teacher_posterior
    from pyrodyn.models.mtf.recipe import InputNoise

    if model.encoders is not None or type(model.prior).__name__ != "FlatPrior":
        raise NotImplementedError("mtf_twin covers a joint encoder with the flat prior")
    o = model.elbo.options
    model._check_training(batch)
    noise = InputNoise(o["input_noise"]) if o["input_noise"] > 0 else None
    q = teacher_posterior(model, batch, noise)[0]
    if model.sample_latent:
        z = q.rsample()
        kl = -q.entropy().sum()  # KL(q || flat) = -H(q), MeanFieldELBO's closed form
    else:
        z, kl = q.loc, 0.0  # a point mass: no entropy term
    t, k = batch.num_steps, model.forcing_dim
    v_rec = batch.valid_steps().to(z.dtype)
    v_next = v_rec[:, 1:]
    ratio = v_rec.sum().clamp_min(1) / v_next.sum().clamp_min(1)
    guess = model.rollout(z, batch.inputs)[..., :-1, :k]
    params = model.decode(torch.cat([z, guess], -2))
    rec = {m: {n: v[:, :t] for n, v in p.items()} for m, p in params.items()}
    steps = None if batch.lengths is None else batch.valid_steps()
    total = o["entropy_weight"] * kl + o["rec_weight"] * _nll(model, batch, rec, steps)
    for m in model.modalities:
        gen = {n: v[:, t:] for n, v in params[m].items()}
        lp = model.likelihoods[m].log_prob(gen, batch.obs[m][:, 1:], batch.mask[m][:, 1:])
        w = o["obs_weight"] * model.modality_weights[m]
        total = total - w * ratio * (lp * v_next).sum()
    lat = Normal(guess, model.latent_scale).log_prob(z[:, 1:]).sum(-1)
    total = total - o["lat_weight"] * ratio * (lat * v_next).sum()
    return total / float(model.normaliser(batch))


@_local
def multimodal_vae_twin(model: Any, batch: Any) -> torch.Tensor:
    """MultimodalVAE's loss (MultimodalVAEObjective, closed-form KLs) without Pyro.

    Fusions with one latent per modality (Independent, MMVM) with a closed-form KL to the
    prior (MMVM's ``pairwise``/``lse`` bounds, N(0, I)).
    """
    if not model.fusion.per_modality_latents:
        raise NotImplementedError("multimodal_vae_twin covers per-modality latents")
    o = model.elbo.options
    model._validated(batch)
    post, present = model.posteriors(batch)
    weights = model.site_weights(present, o["beta"], o["kl_per_modality"])
    qs = {m: Independent(post[m], 1) for m in model.modalities}
    z = {m: qs[m].rsample() for m in model.modalities}
    ctx = model.context(batch, post, present)
    alpha = {} if o["alpha"] is None else {"alpha": o["alpha"]}
    prior = model.prior.step_distribution(ctx, **alpha)
    total = 0.0
    for m in model.modalities:
        kl = kl_divergence(qs[m], prior)
        w = weights[m].to(kl.dtype)
        total = total + torch.where(w > 0, w * kl, torch.zeros_like(kl)).sum()
    params = {m: model.decoders[m](z[m]) for m in model.modalities}
    return (total + _nll(model, batch, params)) / float(model.normaliser(batch))


@_local
def ladid_twin(model: Any, batch: Any) -> torch.Tensor:
    """LaDID's loss (LaDIDObjective: windows, Monte-Carlo KL, ``reg.embedding``) without Pyro.

    Shared-latent fusion without a data-dependent prior or regulariser (product of experts),
    no ``constants_crop``, ``frames_per_window`` or ``reg.overlap``.
    """
    from pyrodyn.models.ladid.regularisers import embedding_nll
    from pyrodyn.models.ladid.windows import cut_windows
    from pyrodyn.nn.fusion.base import SHARED

    o = model.elbo.options
    if model._needs_posteriors_in_model() or o["constants_crop"] or o["frames_per_window"]:
        raise NotImplementedError("ladid_twin covers the default recipe with a plain fusion")
    if o["overlap"] > 0 and o["overlap_weight"] > 0:
        raise NotImplementedError("ladid_twin does not cover reg.overlap")
    model.check_batch(batch)
    win = cut_windows(batch, model.context, None, windows_per_sequence=o["windows_per_sequence"])[0]
    model._check_window(win)
    tokens = o["embedding_weight"] > 0
    enc = model._encode(win, full=tokens)
    ctx = model._prior_context(win, enc)
    (q,) = model._variational(enc, ctx).values()
    psi = q.rsample()
    p = model.prior.distribution(ctx)
    if len(p.batch_shape) >= 2:
        p = p.to_event(len(p.batch_shape) - 1)
    kl = q.log_prob(psi).sum() - p.log_prob(psi).sum()  # Trace_ELBO: one-sample estimate
    z = {SHARED: model.path(psi, win.times - win.times[:, :1])}
    params = {m: model.decoders[m](z[SHARED]) for m in model.modalities}
    scored = model._score_mask(win, query_only=not o["score_context"])
    total = kl + _nll(model, win, params, scored)
    if tokens:
        steps = {m: win.step_mask(m) & win.valid_steps() for m in enc.tokens}
        qmask = model._score_mask(win, query_only=True)
        reg = embedding_nll(model.fusion, enc.tokens, steps, z, qmask)
        total = total + o["embedding_weight"] * reg.sum()
    return total / float(model.normaliser(win))


#: bench.py model name -> twin.
TWINS: dict[str, Twin] = {
    "SVAE": svae_twin,
    "SVAE-large": svae_twin,
    "MTF": mtf_twin,
    "MMGPVAE": mmgpvae_twin,
    "MultimodalVAE": multimodal_vae_twin,
    "LaDID": ladid_twin,
}

__all__ = [
    "TWINS",
    "ladid_twin",
    "mmgpvae_twin",
    "mtf_twin",
    "multimodal_vae_twin",
    "svae_twin",
]

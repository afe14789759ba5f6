"""Simulation-based calibration (SBC) of an amortised posterior.

Talts, Betancourt, Simpson, Vehtari and Gelman, "Validating Bayesian inference algorithms with
simulation-based calibration" (arXiv:1804.06788, 2018): if ``z* ~ p(z)``, ``x ~ p(x | z*)`` and
``z_1..z_L`` are draws from the exact posterior ``p(z | x)``, the rank of ``f(z*)`` among
``f(z_1)..f(z_L)`` is uniform on ``{0, .., L}`` for every scalar ``f``.

Here the data are simulated from the fitted model itself (its priors, then its likelihoods;
models declare they can by the :class:`~pyrodyn.models.capabilities.HasProperPrior` capability),
encoded by the guide, and ``f`` runs over the coordinates of the latent sites. For a trajectory
``(T, D)`` one step ``t`` is chosen at random per simulation and the ``D`` coordinates of ``z_t``
are ranked: ranks pooled over the steps of one trajectory are correlated (neighbouring steps
share the data), which would make the uniformity test far too confident. Static sites ``(D,)``
are ranked as they are; sites with other event shapes (e.g. Fourier coefficients) are ranked per
flattened coordinate. The ranks and their chi-square test are those of
:mod:`pyrodyn.diagnostics.ranks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace as _replace

import numpy as np
import pyro.poutine as poutine
import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.particles import draws_dim, trace_draws
from pyrodyn.diagnostics.ranks import SBCResult, sbc_from_draws
from pyrodyn.diagnostics.sampling import SEQUENCE_PLATE, _in_plate, _is_latent, _modality_of
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import HasProperPrior
from pyrodyn.models.params import local_params

#: ``posterior(simulated_batch, num_draws) -> {site: (L, N, *site_shape)}`` (or one tensor for a
#: model with a single latent site): draws that stand in for the guide's.
PosteriorSampler = Callable[[MultimodalBatch, int], "Tensor | Mapping[str, Tensor]"]

#: Guide draws per vectorised pass are capped at this many latent elements (memory).
_MAX_ELEMENTS = 1 << 23


def check_simulable(model: GenerativeModel) -> None:
    """Raises when data cannot be simulated from ``model`` alone (SBC does not apply)."""
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"SBC needs a GenerativeModel, got {type(model).__name__}")
    name = type(model).__name__
    if not isinstance(model, HasProperPrior):
        raise ValueError(
            f"SBC does not apply to {name}: it does not declare a proper prior on every latent "
            "site (the HasProperPrior capability), so data cannot be simulated from the model "
            "alone"
        )
    bad = model.improper_priors()
    if bad:
        raise ValueError(
            f"SBC does not apply to this {name}: the prior(s) {bad} are improper or depend on "
            "the data, so data cannot be simulated from the model alone"
        )


def _simulate(
    model: GenerativeModel, rows: MultimodalBatch
) -> tuple[dict[str, Tensor], MultimodalBatch]:
    """Prior draws of the local latent sites and a batch of observations simulated from them."""
    trace = poutine.trace(model.model).get_trace(rows.without_observations())
    truth, obs = {}, {}
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or not (_is_latent(site) or site["is_observed"]):
            continue
        m = _modality_of(name, model.modalities)
        if m is not None:
            obs[m] = site["value"]
            continue
        if _is_latent(site):
            if not _in_plate(site):
                raise ValueError(
                    f"SBC simulates one data set per row of the {SEQUENCE_PLATE!r} plate; the "
                    f"global latent site {name!r} would be shared by all simulations"
                )
            truth[name] = site["value"]
            continue
        raise ValueError(
            f"SBC does not apply: the model has the factor or observe site {name!r}, which is "
            "not a modality, so its joint is not prior times likelihoods"
        )
    missing = [m for m in model.modalities if m not in obs]
    if missing or not truth:
        raise ValueError(f"the model trace lacks latent sites or observe sites {missing}")
    filled = {m: torch.where(rows.mask[m], obs[m].to(rows.obs[m].dtype), rows.obs[m]) for m in obs}
    return truth, _replace(rows, obs=filled, extras={}, observed=True)


def _guide_draws(
    model: GenerativeModel,
    batch: MultimodalBatch,
    truth: Mapping[str, Tensor],
    num_draws: int,
    select: Callable[[str, Tensor], Tensor],
) -> dict[str, Tensor]:
    """``select(site, draws)`` of ``num_draws`` guide draws ``(L, N, ...)``, vectorised."""
    dim = draws_dim(model, batch)
    per_draw = sum(int(v.numel()) for v in truth.values())
    per_pass = max(1, min(num_draws, _MAX_ELEMENTS // max(per_draw, 1)))
    out: dict[str, list[Tensor]] = {s: [] for s in truth}
    done = 0
    while done < num_draws:
        r = min(per_pass, num_draws - done)
        # one encoder pass per chunk: the guide's sites get a leading batch dim of r draws
        tr, _ = trace_draws(model, batch, r, dim)
        missing = [s for s in truth if s not in tr.nodes or not _is_latent(tr.nodes[s])]
        if missing:
            raise ValueError(f"the guide does not sample the model's latent sites {missing}")
        for s, v in truth.items():
            # only the ranked coordinates are kept: whole trajectories of every draw need not fit
            out[s].append(select(s, tr.nodes[s]["value"].expand(r, *v.shape)))
        done += r
    return {s: torch.cat(v) for s, v in out.items()}


def _select(value: Tensor, event_dims: int, steps: Tensor | None) -> Tensor:
    """``(..., N, *event)`` -> ``(..., N, D)``.

    A trajectory ``(T, D)`` gives each row's chosen step (``steps``), any other event is
    flattened.
    """
    if steps is not None:
        rows = torch.arange(steps.shape[0], device=value.device)
        return value[..., rows, steps.to(value.device), :]
    return value.reshape(*value.shape[: value.dim() - event_dims], -1)


def _as_draws(out: Tensor | Mapping[str, Tensor], sites: list[str], num_draws: int) -> dict:
    if isinstance(out, Tensor):
        if len(sites) != 1:
            raise ValueError(
                f"the posterior sampler returned one tensor, but the model has the latent sites "
                f"{sites}; return a mapping site -> draws"
            )
        out = {sites[0]: out}
    missing = [s for s in sites if s not in out]
    if missing:
        raise ValueError(f"the posterior sampler returned no draws of the latent sites {missing}")
    for s in sites:
        if out[s].shape[0] != num_draws:
            raise ValueError(
                f"the posterior sampler returned {out[s].shape[0]} draws of {s!r}, expected "
                f"num_draws = {num_draws}"
            )
    return {s: out[s] for s in sites}


@torch.no_grad()
def sbc(
    model: GenerativeModel,
    batch: MultimodalBatch,
    num_simulations: int = 200,
    num_draws: int = 99,
    *,
    seed: int = 0,
    num_bins: int | None = None,
    posterior: PosteriorSampler | None = None,
) -> SBCResult:
    """Simulation-based calibration of ``model``'s guide (Talts et al. 2018).

    Simulation ``i`` takes the layout of row ``i mod B`` of ``batch`` (length, time stamps,
    inputs, missing entries), draws the latents from the prior and the observations from the
    likelihoods (all simulations in one vectorised pass), encodes them with the guide and draws
    ``L`` posterior draws (vectorised over draws), then ranks the true latent among the draws at
    one uniformly chosen valid step (see the module docstring).

    Args:
        model: a fitted model declaring
            :class:`~pyrodyn.models.capabilities.HasProperPrior`.
        batch: template rows (e.g. validation windows); their observations are not used.
        num_simulations: N >= 10.
        num_draws: L >= 1 posterior draws per simulation (ranks lie in ``{0, .., L}``).
        seed: seeds the simulations, the draws, the chosen steps and the tie breaks (the global
            random state is restored afterwards).
        num_bins: bins of the chi-square test (default
            :func:`~pyrodyn.diagnostics.ranks.default_bins`).
        posterior: draws to rank instead of the guide's,
            ``posterior(simulated_batch, L) -> {site: (L, N, *site_shape)}`` (e.g. an exact
            posterior, to check the procedure).

    Returns:
        The ranks ``(N, D)`` over every coordinate of every latent site and their tests.

    Raises:
        ValueError: SBC does not apply to the model (improper or data-dependent priors, factor
            terms, global latents), or bad sizes.
    """
    if not isinstance(num_simulations, (int, np.integer)) or num_simulations < 10:
        raise ValueError(
            "num_simulations must be an integer >= 10 (a chi-square test of uniformity needs "
            f"them), got {num_simulations!r}"
        )
    if not isinstance(num_draws, (int, np.integer)) or num_draws < 1:
        raise ValueError(f"num_draws (L) must be an integer >= 1, got {num_draws!r}")
    check_simulable(model)
    model.check_batch(batch)
    n, b = int(num_simulations), batch.num_sequences
    rows = batch[torch.arange(n, device=batch.device) % b]
    rng = np.random.default_rng(int(seed))
    steps = None
    if not batch.static:
        length = rows.valid_steps().sum(-1).cpu().numpy()
        steps = torch.as_tensor(np.floor(rng.random(n) * length).astype(np.int64))
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), local_params(model):
            torch.manual_seed(int(seed))
            truth, simulated = _simulate(model, rows)
            sites = list(truth)
            events = {s: truth[s].dim() - 1 for s in sites}
            # a (T, D) site is a trajectory: rank one step of it; other sites: every coordinate
            at = {
                s: steps if events[s] == 2 and truth[s].shape[1] == rows.num_steps else None
                for s in sites
            }

            def select(site: str, value: Tensor) -> Tensor:
                return _select(value, events[site], at[site])

            if posterior is None:
                draws = _guide_draws(model, simulated, truth, int(num_draws), select)
            else:
                out = _as_draws(posterior(simulated, int(num_draws)), sites, int(num_draws))
                draws = {s: select(s, v.to(truth[s].device)) for s, v in out.items()}
    finally:
        model.train(was_training)
    cols = [select(s, truth[s]) for s in sites]
    names = [f"{s}[{d}]" for s, c in zip(sites, cols) for d in range(c.shape[-1])]
    ranked_steps = any(at[s] is not None for s in sites)
    return sbc_from_draws(
        torch.cat(cols, -1),
        torch.cat([draws[s] for s in sites], -1),
        names=names,
        steps=steps.numpy() if ranked_steps else None,
        num_bins=num_bins,
        seed=int(seed),
    )


__all__ = ["PosteriorSampler", "SBCResult", "check_simulable", "sbc"]

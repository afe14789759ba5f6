"""Draws from a model's guide and the model quantities at them, from generic Pyro traces.

Everything in :mod:`pyrodyn.diagnostics` is computed from one set of draws: for draw ``s`` the
guide is traced on the batch, the model is replayed against it, and every site is read off the
two traces. Nothing here knows a model class, so any `GenerativeModel` whose latent sites live
under the ``"sequences"`` plate works. Draws are vectorised as a plate of draws outside the
sequence plate (:mod:`~pyrodyn.diagnostics.particle_pass`: the encoder runs once per sequence);
models whose sites do not take that extra dimension are drawn by repeating the trials along the
sequence plate (``r`` draws per pass), and models with global latent sites (outside the plate)
one pass per draw so that each draw has its own global value.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample
from torch import Tensor
from torch.distributions import Independent

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics.particle_pass import NotVectorisable, particle_pass
from pyrodyn.diagnostics.particles import draws_dim
from pyrodyn.diagnostics.sites import (
    SEQUENCE_PLATE,
    _in_plate,
    _is_deterministic,
    _is_latent,
    _modality_of,
    _support_kind,
)
from pyrodyn.models.base import GenerativeModel

log = logging.getLogger(__name__)


@dataclass
class PosteriorDraws:
    """``S`` guide draws for ``B`` trials and what the model says at each.

    Attributes:
        latents: local latent site -> ``(S, B, *site_shape)``.
        global_latents: latent site outside the sequence plate -> ``(S, *shape)``.
        deterministic: model ``pyro.deterministic`` site -> ``(S, B, ...)``.
        log_lik: modality -> pointwise ``log p(x | z)``: ``(S, B, T)`` (``(S, B)`` for static
            data); missing entries contribute 0.
        log_prior: ``(S, B)`` ``log p(z)`` of the latent sites (global sites added to each trial)
            plus any observe site that is not a modality (``pyro.factor`` terms).
        log_q: ``(S, B)`` ``log q(z | x)``.
        predictive: modality -> posterior predictive draws ``(S, B, T, *feature_shape)``.
        observed: modality -> observations ``(B, T, *feature_shape)``, NaN where missing.
        kind: modality -> ``"continuous"``, ``"count"``, ``"categorical"`` or ``"onehot"``.
        static: whether the trials have no time axis.
        times: ``(B, T)`` time stamps (None for static data).
        source_trial: ``(B,)`` index of each trial in the data it came from.
        source_start: ``(B,)`` step of that trial at which each row starts (windows), or None.
        extras: the batch's ground truth and labels (``true_*``, ``label*``), first dim ``B``.
    """

    latents: dict[str, np.ndarray]
    global_latents: dict[str, np.ndarray]
    deterministic: dict[str, np.ndarray]
    log_lik: dict[str, np.ndarray]
    log_prior: np.ndarray
    log_q: np.ndarray
    predictive: dict[str, np.ndarray]
    observed: dict[str, np.ndarray]
    kind: dict[str, str]
    static: bool
    times: np.ndarray | None = None
    source_trial: np.ndarray | None = None
    source_start: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        """S, the number of draws."""
        return int(self.log_q.shape[0])

    @property
    def num_trials(self) -> int:
        """B, the number of trials."""
        return int(self.log_q.shape[1])

    @property
    def modalities(self) -> list[str]:
        """Modalities with an observe site."""
        return list(self.log_lik)

    def trial_log_lik(self, modality: str) -> np.ndarray:
        """``log p(x_m | z)`` summed over time: ``(S, B)``."""
        ll = self.log_lik[modality]
        return ll if ll.ndim == 2 else ll.sum(axis=tuple(range(2, ll.ndim)))

    @property
    def log_weights(self) -> np.ndarray:
        """Importance log ratios ``log p(x, z_s) - log q(z_s | x)`` per trial ``(S, B)``."""
        total = self.log_prior - self.log_q
        for m in self.log_lik:
            total = total + self.trial_log_lik(m)
        return total


def select_trials(
    data: MultimodalDataset | MultimodalBatch,
    num_trials: int | None = 64,
    *,
    window: int | None = None,
) -> MultimodalBatch:
    """The trials diagnostics are computed on (a long recording's windows act as trials).

    Args:
        data: a dataset or a batch.
        num_trials: how many trials to keep (evenly spaced, deterministic); None keeps all.
        window: cut trials into consecutive windows of this length first (default: windows only
            for a single long recording, of length ``min(T, 200)``).

    Returns:
        A batch of at most ``num_trials`` trials.
    """
    if num_trials is not None and int(num_trials) < 1:
        raise ValueError(f"num_trials must be >= 1 (or None for all), got {num_trials}")
    if isinstance(data, MultimodalDataset):
        if data.static:
            batch = data.batch()
        elif window is not None or data.single_recording:
            w = int(window) if window is not None else min(int(data.num_steps), 200)
            batch = data.windows(w)
        else:
            batch = data.batch()
    elif isinstance(data, MultimodalBatch):
        batch = data
    else:
        raise TypeError(
            f"data must be a MultimodalDataset or MultimodalBatch, got {type(data).__name__}"
        )
    n = batch.num_sequences
    if num_trials is None or n <= num_trials:
        return batch
    rows = torch.as_tensor(np.unique(np.linspace(0, n - 1, int(num_trials)).round().astype(int)))
    return batch[rows]


def _row_log_prob(site: Mapping, rows: int) -> Tensor:
    """Log-probability of a site summed to ``(rows,)`` (or a scalar for global sites).

    Poutine ``scale`` (modality weights, KL annealing) is ignored: diagnostics use the model's
    true joint density.
    """
    lp = site["fn"].log_prob(site["value"])
    if site["mask"] is not None and not isinstance(site["mask"], bool):
        lp = torch.where(site["mask"], lp, lp.new_zeros(()))
    elif site["mask"] is False:
        lp = torch.zeros_like(lp)
    if _in_plate(site) and lp.dim() >= 1 and lp.shape[-1] == rows:
        return lp.reshape(-1, rows).sum(0)
    if _in_plate(site):
        return lp.sum().expand(rows)
    return lp.sum()


def _pointwise_log_prob(site: Mapping, lead: int) -> Tensor:
    """Element-wise ``log p(x)`` of an observe site summed over features: ``(rows, T)``."""
    d = site["fn"]
    while isinstance(d, Independent):
        d = d.base_dist
    value = site["value"]
    lp = d.log_prob(value)
    if lp.dim() > lead:
        lp = lp.sum(tuple(range(lead, lp.dim())))
    lp = lp.expand(value.shape[:lead])
    mask = site["mask"]
    if isinstance(mask, Tensor):
        # a poutine.mask broadcasts against the site's batch dims, i.e. the leading dims here
        while mask.dim() < lp.dim():
            mask = mask.unsqueeze(-1)
        lp = torch.where(mask, lp, lp.new_zeros(()))
    elif mask is False:
        lp = torch.zeros_like(lp)
    return lp


def _trace_pass(
    model: GenerativeModel, rows: MultimodalBatch, predictive: bool
) -> tuple[dict, dict, dict, dict, Tensor, Tensor, dict, dict]:
    guide_tr = poutine.trace(model.guide).get_trace(rows)
    model_tr = poutine.trace(poutine.replay(model.model, trace=guide_tr)).get_trace(rows)
    n = rows.num_sequences
    lead = 1 if rows.static else 2
    guided = {name for name, s in guide_tr.nodes.items() if _is_latent(s)}
    local, glob, determ, ll, pp, kind = {}, {}, {}, {}, {}, {}
    log_prior = torch.zeros(n)
    log_q = torch.zeros(n)
    for name, site in model_tr.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if _is_deterministic(site):
            if site["value"].dim() >= 1 and site["value"].shape[0] == n:
                determ[name] = site["value"]
            continue
        if site["is_observed"] and name not in guided:
            m = _modality_of(name, model.modalities)
            if m is None:
                # pyro.factor and other non-modality observe sites: part of the joint only
                log_prior = log_prior + _row_log_prob(site, n)
                continue
            lp = _pointwise_log_prob(site, lead)
            ll[m] = lp if m not in ll else ll[m] + lp
            if m not in kind:
                kind[m] = _support_kind(site["fn"])
                if predictive:
                    pp[m] = site["fn"].sample()
            continue
        log_prior = log_prior + _row_log_prob(site, n)
        if name in guided:
            gsite = guide_tr.nodes[name]
            log_q = log_q + _row_log_prob(gsite, n)
            if _in_plate(gsite):
                local[name] = gsite["value"]
            else:
                glob[name] = gsite["value"]
    for name in guided:
        if name not in model_tr.nodes:
            raise ValueError(
                f"the guide samples {name!r}, which the model does not; importance weights need "
                "the guide's latent sites to be the model's"
            )
    return local, glob, determ, ll, log_prior, log_q, pp, kind


@torch.no_grad()
def draw_posterior(
    model: GenerativeModel,
    batch: MultimodalBatch,
    num_samples: int = 100,
    *,
    predictive: bool = True,
    max_rows: int = 4096,
) -> PosteriorDraws:
    """Draws ``num_samples`` latents from the guide and reads model quantities at each.

    Args:
        model: a fitted model (put in eval mode for the duration).
        batch: ``B`` trials (see :func:`select_trials`).
        num_samples: S >= 1 draws per trial.
        predictive: also draw posterior predictive observations.
        max_rows: at most this many sequence rows per model/guide pass.

    Returns:
        The draws; see :class:`PosteriorDraws` for shapes.
    """
    if not isinstance(num_samples, (int, np.integer)) or int(num_samples) < 1:
        raise ValueError(f"num_samples (K) must be an integer >= 1, got {num_samples!r}")
    num_samples = int(num_samples)
    model.check_batch(batch)
    b = batch.num_sequences
    per_pass = max(1, min(num_samples, max_rows // max(b, 1)))
    was_training = model.training
    model.eval()
    try:
        chunks = _draw_chunks(model, batch, num_samples, per_pass, predictive)
    finally:
        model.train(was_training)
    return _assemble(batch, chunks)


def _draw_chunks(
    model: GenerativeModel, batch: MultimodalBatch, s: int, per_pass: int, predictive: bool
) -> list[tuple]:
    b = batch.num_sequences
    chunks: list[tuple] = []
    done = 0
    vectorised = s > 1
    while done < s:
        r = min(per_pass, s - done)
        if vectorised and r > 1:
            # draws as a plate: the guide's encoder runs once per sequence, not once per draw
            try:
                out = particle_pass(
                    model, batch, r, draws_dim(model, batch, replay=True), predictive
                )
            except (NotVectorisable, RuntimeError, ValueError, IndexError) as err:
                if chunks:
                    raise
                log.debug("draws over repeated rows: %s", err)
                vectorised = False
                continue
            chunks.append((r, out))
            done += r
            continue
        rows = batch if r == 1 else batch[torch.arange(b, device=batch.device).repeat(r)]
        out = _trace_pass(model, rows, predictive)
        if out[1] and r > 1:
            # a global latent site would be shared by the r draws of this pass: one draw per pass
            per_pass = 1
            continue
        chunks.append((r, out))
        done += r
    return chunks


def _split(x: Tensor, r: int, b: int) -> np.ndarray:
    """``(r * B, ...)`` rows -> ``(r, B, ...)`` numpy."""
    return x.detach().cpu().reshape(r, b, *x.shape[1:]).numpy()


def _assemble(batch: MultimodalBatch, chunks: list[tuple]) -> PosteriorDraws:
    b = batch.num_sequences
    acc: dict[str, dict[str, list]] = {k: {} for k in ("latents", "globals", "determ", "ll", "pp")}
    log_prior, log_q = [], []
    kind: dict[str, str] = {}
    for r, (local, glob, determ, ll, lp, lq, pp, knd) in chunks:
        for key, src in (("latents", local), ("determ", determ), ("ll", ll), ("pp", pp)):
            for name, v in src.items():
                acc[key].setdefault(name, []).append(_split(v, r, b))
        for name, v in glob.items():
            acc["globals"].setdefault(name, []).append(v.detach().cpu().numpy()[None])
        log_prior.append(_split(lp, r, b))
        log_q.append(_split(lq, r, b))
        kind.update(knd)

    def cat(d: dict[str, list], dtype: type = np.float64) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v).astype(dtype, copy=False) for k, v in d.items()}

    observed = {}
    for m in acc["ll"]:
        if m in batch.obs:
            x = batch.obs[m].detach().cpu().double().numpy().copy()
            x[~batch.mask[m].cpu().numpy()] = math.nan
            observed[m] = x
    return PosteriorDraws(
        latents=cat(acc["latents"], np.float32),
        global_latents=cat(acc["globals"], np.float32),
        deterministic=cat(acc["determ"], np.float32),
        log_lik=cat(acc["ll"]),
        log_prior=np.concatenate(log_prior).astype(np.float64),
        log_q=np.concatenate(log_q).astype(np.float64),
        predictive=cat(acc["pp"], np.float32),
        observed=observed,
        kind=kind,
        static=batch.static,
        times=None if batch.times is None else batch.times.detach().cpu().numpy(),
        source_trial=None if batch.index is None else batch.index.detach().cpu().numpy(),
        source_start=None if batch.start is None else batch.start.detach().cpu().numpy(),
        extras={k: v.detach().cpu().numpy() for k, v in batch.extras.items()},
    )


# SEQUENCE_PLATE and the site predicates live in sites.py; they stay importable from here
__all__ = ["SEQUENCE_PLATE", "PosteriorDraws", "draw_posterior", "select_trials"]

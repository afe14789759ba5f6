"""LaDID: an instance code per trajectory window and one universal query-time dynamics.

Lagemann, Lagemann & Mukherjee, "Learning Latent Dynamics via Invariant Decomposition and
(Spatio-)Temporal Transformers" (arXiv 2306.12077; ICLR 2024 as "Invariance-based Learning of
Latent Dynamics"), reimplemented from specs/ladid.md sections 1, 7.4 and 8.1 as a Pyro model and
guide:

* **model**: in the sequence plate (one row per multiple-shooting window), ``psi ~ N(0, I)``
  (or the fusion's prior); ``z(t) = dynamics.path(psi, t - t0)`` at every step of the window;
  each modality is scored under its likelihood (learned observation scale) from its decoder;
* **guide**: per modality, a continuous-time transformer over the first ``context`` frames gives
  per-token Gaussians, aggregated as the law of the mean of one sample per token,
  ``N(mean gamma, sqrt(sum sigma^2) / C)``; several modalities are fused by a
  :class:`~pyrodyn.nn.fusion.base.Fusion`.

The ELBO of model/guide is proper (it includes the entropy of q(psi), which the reference omits).
:meth:`LaDID.loss` adds two named, weighted regularisers that are *not* part of any ELBO:
``reg.embedding`` (LaDID's "l_emb": the predicted latents are scored under the per-frame token
Gaussians of the whole window) and ``reg.overlap`` (smoothness between the predictions of
consecutive, overlapping windows). With either weight non-zero, or with ``reference_compat``, the
objective is not an ELBO and :attr:`is_elbo` is False.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.poutine.subsample_messenger import _Subsample
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.dynamics.query import QueryDynamics
from pyrodyn.infer.schedules import Schedule, step_schedule
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import ForecastsFromContext, Generates, HasInstanceCode
from pyrodyn.nn.decoders import MLPDecoder
from pyrodyn.nn.encoders.ct_transformer import (
    ContinuousTimeTransformer,
    aggregate_tokens,
    check_times,
)
from pyrodyn.nn.frame_decoder import FrameCNNDecoder
from pyrodyn.nn.fusion.base import SHARED, Fusion
from pyrodyn.nn.fusion.poe import ProductOfExperts
from pyrodyn.objectives.elbo import observed_term_name
from pyrodyn.priors.base import LatentPrior, PriorContext
from pyrodyn.priors.normal import StandardNormalPrior


def shooting_starts(num_steps: int, context: int, horizon: int, overlap: int = 0) -> Tensor:
    """Start indices of LaDID's multiple-shooting windows (spec ladid 1.8).

    Each window has ``context + horizon + overlap`` steps; consecutive windows start ``horizon``
    apart, so the last ``overlap`` query steps of one window are the first ``overlap`` query
    steps of the next.

    Args:
        num_steps: T, the trajectory length.
        context: C >= 1 context steps.
        horizon: q >= 1 query steps.
        overlap: o >= 0 extra query steps shared with the next window.

    Returns:
        ``(n,)`` long, ``0, q, 2q, ...`` while the window fits.
    """
    context, horizon, overlap = int(context), int(horizon), int(overlap)
    if context < 1 or horizon < 1 or overlap < 0:
        raise ValueError(
            f"need context >= 1, horizon >= 1, overlap >= 0; got {context}, {horizon}, {overlap}"
        )
    length = context + horizon + overlap
    if length > num_steps:
        raise ValueError(
            f"a window of context {context} + horizon {horizon} + overlap {overlap} = {length} "
            f"steps does not fit in trajectories of {num_steps} steps; use longer trajectories "
            "(fit's `window`) or a shorter horizon/context"
        )
    return torch.arange(0, num_steps - length + 1, horizon)


def horizon_curriculum(
    total_steps: int,
    horizons: Sequence[int] = (1, 2, 4, 8, 16, 32, 50),
    final_fraction: float = 0.4,
) -> Schedule:
    """LaDID's query-horizon curriculum as a schedule ``step -> horizon`` for ``fit``.

    The horizons are visited in order; the last one gets ``final_fraction`` of the steps (the
    spec's advice for short budgets, since the full horizon is what is evaluated), the others
    share the rest equally.

    Args:
        total_steps: number of optimisation steps of the run.
        horizons: increasing query horizons.
        final_fraction: share of the steps spent at the last horizon, in (0, 1].
    """
    hs = [int(h) for h in horizons]
    if not hs or any(h < 1 for h in hs) or any(b <= a for a, b in itertools.pairwise(hs)):
        raise ValueError(f"horizons must be increasing positive ints, got {tuple(horizons)}")
    if not 0.0 < final_fraction <= 1.0:
        raise ValueError(f"final_fraction must lie in (0, 1], got {final_fraction}")
    if int(total_steps) < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    early = int(total_steps) * (1.0 - final_fraction)
    per = early / max(len(hs) - 1, 1)
    milestones = [round(per * (i + 1)) for i in range(len(hs) - 1)]
    # strictly increasing milestones even for tiny budgets
    for i in range(1, len(milestones)):
        milestones[i] = max(milestones[i], milestones[i - 1] + 1)
    return step_schedule(hs, milestones)


class LaDID(GenerativeModel, Generates, ForecastsFromContext, HasInstanceCode):
    """LaDID as a Pyro model/guide with named regularisers (see the module docstring).

    The model consumes *windows*: the first ``context`` steps of a batch are the context from
    which psi is inferred, every step of the window is decoded from ``z(t) = path(psi, t -
    t0)``. :meth:`loss` cuts the batch into multiple-shooting windows of ``context + horizon
    (+ overlap)`` steps first (``horizon`` is a scheduled value, see :func:`horizon_curriculum`).

    Args:
        likelihoods: modality -> likelihood (any family; learned observation scales).
        encoders: modality -> continuous-time transformer giving per-token Gaussians of size K;
            modalities without an encoder are decoded but never encoded.
        dynamics: :class:`~pyrodyn.dynamics.query.QueryDynamics` (psi is the code) or any
            discrete-time :class:`DynamicsModel` (psi is the initial state; needs ``time_step``).
        decoders: modality -> decoder ``(..., M) -> params`` (default: a frame CNN for 2-D/3-D
            features, an MLP for vectors).
        fusion: combines the modality posteriors of psi (default product of experts; with one
            modality it is the identity).
        prior: the prior of psi (default N(0, I)); the fusion may replace it (MMVM).
        context: C, context frames per window (LaDID: 10).
        windows_per_sequence: windows sampled per sequence in :meth:`loss`.
        embedding_weight: weight of ``reg.embedding`` (0 turns it off).
        overlap: o, overlapping query steps of consecutive windows (0: no ``reg.overlap``).
        overlap_weight: weight of ``reg.overlap``.
        overlap_scale: scale s of ``N(z_b(t) | z_{b+1}(t), s^2)`` (LaDID: 0.1).
        score_context: also score the context frames (the ELBO of the whole window); False
            scores only the query frames (the reference).
        time_step: sampling interval that turns time offsets into integer steps for a
            discrete-time ``dynamics``.
        reference_compat: reproduce the reference's loss (spec ladid 1.7) for parity checks:
            no entropy of q(psi), fixed observation scale ``reference_obs_scale`` around the
            likelihood's mean, query frames only, embedding and prior terms weighted by
            ``embedding_weight``, times ``reference_num_train / batch size``.
        reference_obs_scale: sigma_y of ``reference_compat`` (reference: 1e-3).
        reference_num_train: N_train of ``reference_compat`` (None: no rescaling).
        state_encoders: optional modality -> transformer over only the first ``state_frames``
            frames, splitting the code into ``psi = [constants ; state]`` (see
            :attr:`constants_dim`). The ``encoders`` then give the constants part (size
            ``K - K_s``) from the whole context, these give the initial-state part (size K_s).
            Because the state part already explains the window's initial condition, encoding
            it again in the constants part earns no likelihood and costs KL, so the constants
            part is pushed to carry only what a few frames cannot show: the instance's
            constants (LaDID's realisation-specific split into initial condition and
            constants, made explicit; a pyrodyn extension). Every encoded modality needs one.
        state_frames: frames the state encoders see, ``1 <= state_frames <= context`` (2
            gives a velocity from positions).
        constants_crop: with ``state_encoders``, :meth:`loss` feeds the constants encoders
            ``context`` frames starting at a random step of each window instead of the context
            (the guide then depends on a random crop; averaged over crops it is still a
            proper ELBO). The dynamics cannot tell where the crop lay, so the state of the
            crop is useless to it and only time-invariant properties are worth encoding
            there. Forecasts always read the context.
        frames_per_window: S, decode and score only S frames per window in :meth:`loss`,
            drawn uniformly without replacement and weighted by ``L / S`` (an unbiased
            estimate of the window's log-likelihood; None scores every frame). A query-time
            model decodes each frame independently given psi, so the cost of the decoder, the
            bulk of a video model's step, falls by ``L / S``. Not with ``reg.embedding`` or
            ``reg.overlap``, which need every step.
    """

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        encoders: Mapping[str, ContinuousTimeTransformer],
        dynamics: DynamicsModel,
        decoders: Mapping[str, nn.Module] | None = None,
        fusion: Fusion | None = None,
        prior: LatentPrior | None = None,
        *,
        context: int = 10,
        windows_per_sequence: int = 2,
        embedding_weight: float = 1.0,
        overlap: int = 0,
        overlap_weight: float = 0.0,
        overlap_scale: float = 0.1,
        score_context: bool = True,
        time_step: float | None = None,
        reference_compat: bool = False,
        reference_obs_scale: float = 1e-3,
        reference_num_train: int | None = None,
        state_encoders: Mapping[str, ContinuousTimeTransformer] | None = None,
        state_frames: int = 2,
        constants_crop: bool = False,
        frames_per_window: int | None = None,
    ) -> None:
        super().__init__(likelihoods)
        if not isinstance(dynamics, DynamicsModel):
            raise TypeError(f"dynamics must be a DynamicsModel, got {type(dynamics).__name__}")
        if not encoders:
            raise ValueError("LaDID needs at least one encoder (modality -> transformer)")
        unknown = [m for m in encoders if m not in self.likelihoods]
        if unknown:
            raise ValueError(f"encoders for unknown modalities {unknown}; have {self.modalities}")
        self.dynamics = dynamics
        self.query_time = isinstance(dynamics, QueryDynamics)
        self.code_dim = dynamics.code_dim if self.query_time else dynamics.latent_dim
        self.latent_dim = dynamics.latent_dim
        self.state_dim = self._check_state_encoders(encoders, state_encoders, state_frames, context)
        #: Size of the constants part ``psi[..., :constants_dim]`` (all of psi without a split).
        self.constants_dim = self.code_dim - self.state_dim
        self.state_frames = int(state_frames)
        if constants_crop and not self.state_dim:
            raise ValueError(
                "constants_crop needs state_encoders: without a state part nothing would tell "
                "the dynamics the window's initial condition"
            )
        self.constants_crop = bool(constants_crop)
        if frames_per_window is not None:
            if int(frames_per_window) < 1:
                raise ValueError(f"frames_per_window must be >= 1, got {frames_per_window}")
            if embedding_weight > 0 or (int(overlap) > 0 and overlap_weight > 0):
                raise ValueError(
                    "frames_per_window scores a subset of each window's frames; reg.embedding "
                    "and reg.overlap need them all (set embedding_weight=0, overlap_weight=0)"
                )
        self.frames_per_window = None if frames_per_window is None else int(frames_per_window)
        self.state_encoders = None if not state_encoders else nn.ModuleDict(dict(state_encoders))
        for m, enc in encoders.items():
            if enc.latent_dim != self.constants_dim:
                what = "the constants part of the" if self.state_dim else "the dynamics'"
                raise ValueError(
                    f"encoder of {m!r} gives size {enc.latent_dim}, but {what} code has size "
                    f"{self.constants_dim}"
                )
        if not self.query_time and (time_step is None or not time_step > 0):
            raise ValueError(
                f"a discrete-time dynamics ({type(dynamics).__name__}) needs time_step > 0 to "
                f"turn time offsets into steps, got {time_step}"
            )
        self.encoders = nn.ModuleDict(dict(encoders))
        if decoders is None:
            decoders = {m: default_decoder(self.latent_dim, lik) for m, lik in likelihoods.items()}
        missing = [m for m in self.modalities if m not in decoders]
        if missing:
            raise ValueError(f"no decoder for modalities {missing}")
        self.decoders = nn.ModuleDict({m: decoders[m] for m in self.modalities})
        self.fusion = fusion if fusion is not None else ProductOfExperts()
        if self.fusion.per_modality_latents and set(encoders) != set(self.modalities):
            raise ValueError(
                f"{type(self.fusion).__name__} keeps one latent per modality, so every modality "
                f"needs an encoder; have encoders for {sorted(encoders)} of {self.modalities}"
            )
        self.prior = prior if prior is not None else StandardNormalPrior(self.code_dim)
        if int(context) < 1:
            raise ValueError(f"context must be >= 1, got {context}")
        if int(windows_per_sequence) < 1:
            raise ValueError(f"windows_per_sequence must be >= 1, got {windows_per_sequence}")
        if int(overlap) < 0 or overlap_weight < 0 or embedding_weight < 0:
            raise ValueError(
                "overlap, overlap_weight and embedding_weight must be >= 0, got "
                f"{overlap}, {overlap_weight}, {embedding_weight}"
            )
        if not overlap_scale > 0 or not reference_obs_scale > 0:
            raise ValueError("overlap_scale and reference_obs_scale must be positive")
        self.context = int(context)
        self.windows_per_sequence = int(windows_per_sequence)
        self.embedding_weight = float(embedding_weight)
        self.overlap = int(overlap)
        self.overlap_weight = float(overlap_weight)
        self.overlap_scale = float(overlap_scale)
        self.score_context = bool(score_context)
        self.time_step = None if time_step is None else float(time_step)
        self.reference_compat = bool(reference_compat)
        self.reference_obs_scale = float(reference_obs_scale)
        self.reference_num_train = reference_num_train
        if self.embedding_weight > 0 and self.state_dim:
            raise ValueError(
                "reg.embedding scores latents under the per-frame tokens of the constants "
                "encoders, which do not describe a split code; use embedding_weight=0 with "
                "state_encoders"
            )
        if self.embedding_weight > 0 and self.code_dim != self.latent_dim:
            raise ValueError(
                f"reg.embedding compares latents (size {self.latent_dim}) with token Gaussians "
                f"(size {self.code_dim}); use equal sizes or embedding_weight=0"
            )
        #: The objective is an ELBO only without regularisers and outside reference_compat.
        self.is_elbo = not (
            self.reference_compat
            or self.embedding_weight > 0
            or (self.overlap > 0 and self.overlap_weight > 0)
        )

    # ------------------------------------------------------------------ helpers
    def _check_state_encoders(
        self,
        encoders: Mapping[str, ContinuousTimeTransformer],
        state_encoders: Mapping[str, ContinuousTimeTransformer] | None,
        state_frames: int,
        context: int,
    ) -> int:
        """Validates the split-code arguments; returns K_s (0 without a split)."""
        if not state_encoders:
            return 0
        if set(state_encoders) != set(encoders):
            raise ValueError(
                f"state_encoders must cover exactly the encoded modalities {sorted(encoders)}, "
                f"got {sorted(state_encoders)}"
            )
        sizes = {m: e.latent_dim for m, e in state_encoders.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"state encoders must give one state size, got {sizes}")
        k_s = next(iter(sizes.values()))
        if k_s >= self.code_dim:
            raise ValueError(
                f"the state part (size {k_s}) must be smaller than the code (size "
                f"{self.code_dim}) to leave room for the constants"
            )
        if not 1 <= int(state_frames) <= int(context):
            raise ValueError(
                f"state_frames must lie in [1, context = {context}], got {state_frames}"
            )
        return k_s

    def _with_state(
        self, m: str, post: dist.Normal, x: Tensor, mask: Tensor, times: Tensor, ok: Tensor
    ) -> dist.Normal:
        """Appends the state part of modality ``m``'s code posterior (split codes only).

        ``x``, ``mask``, ``times`` and ``ok`` cover at least the first ``state_frames`` steps;
        rows without an observed state frame get the prior N(0, I) for the state part.
        """
        if self.state_encoders is None:
            return post
        n = self.state_frames
        q = self.state_encoders[m](x[:, :n], mask[:, :n], times[:, :n])
        ok = ok[:, :n]
        seen = ok.any(1, keepdim=True)
        s = aggregate_tokens(q, ok | ~seen)
        loc = torch.where(seen, s.loc, torch.zeros_like(s.loc))
        scale = torch.where(seen, s.scale, torch.ones_like(s.scale))
        return dist.Normal(torch.cat([post.loc, loc], -1), torch.cat([post.scale, scale], -1))

    def code_parts(self, code: Tensor) -> dict[str, Tensor]:
        """Splits codes ``(..., K)`` into ``{"constants": (..., K - K_s), "state": (..., K_s)}``."""
        if code.shape[-1] != self.code_dim:
            raise ValueError(f"expected codes (..., {self.code_dim}), got {tuple(code.shape)}")
        return {
            "constants": code[..., : self.constants_dim],
            "state": code[..., self.constants_dim :],
        }

    def _site(self, key: str) -> str:
        return "psi" if key == SHARED else f"psi_{key}"

    def _check_window(self, batch: MultimodalBatch) -> None:
        if batch.static:
            raise ValueError("LaDID expects sequences, got a static batch")
        if batch.num_steps <= self.context:
            raise ValueError(
                f"context of {self.context} frames is not shorter than the trajectory "
                f"({batch.num_steps} steps); LaDID needs frames after the context to predict"
            )
        valid = batch.valid_steps()
        check_times(batch.times, valid, name="batch.times")
        short = valid[:, : self.context].sum(1) < min(self.context, batch.num_steps)
        if bool(short.any()):
            rows = short.nonzero().flatten()[:5].tolist()
            raise ValueError(f"rows {rows} are shorter than the context of {self.context} frames")

    def _offsets(self, times: Tensor) -> Tensor:
        return times - times[:, :1]

    def path(self, code: Tensor, offsets: Tensor) -> Tensor:
        """Latents at time offsets from the window start.

        Args:
            code: psi ``(..., B, K)``.
            offsets: ``(B, Q)`` non-negative offsets.

        Returns:
            ``(..., B, Q, M)``.
        """
        if self.query_time:
            return self.dynamics.path(code, offsets)
        steps = offsets / self.time_step
        k = steps.round()
        if bool(((steps - k).abs() > 1e-3).any()) or bool((k != k[:1]).any()):
            raise ValueError(
                f"{type(self.dynamics).__name__} is a discrete-time dynamics: query times must "
                f"lie on the grid of time_step {self.time_step} and be shared by all rows"
            )
        return self.dynamics.path(code, k[0].long())

    def _encode(
        self, batch: MultimodalBatch, *, full: bool, constants_start: Tensor | None = None
    ) -> tuple[dict[str, dist.Normal], dict[str, dist.Normal], dict[str, Tensor]]:
        """Per-modality token Gaussians ``(B, L, K)``, code posteriors ``(B, K)``, presence.

        ``constants_start`` ``(B,)``: the constants encoders read the ``context`` frames from
        there instead of the context (:attr:`constants_crop` training).
        """
        c = self.context
        valid = batch.valid_steps()
        tokens, posts, present = {}, {}, {}
        for m, enc in self.encoders.items():
            x, mask = batch.obs[m], batch.mask[m]
            step_ok = batch.step_mask(m) & valid
            present[m] = step_ok[:, :c].any(1)
            if full:
                q = enc(x, mask, batch.times, context=c)
                read_ok = step_ok[:, :c]
            else:
                # the frames the constants encoder reads: the context, or a crop in training
                rows, cols = slice(None), slice(0, c)
                if constants_start is not None:
                    rows = torch.arange(batch.num_sequences, device=x.device)[:, None]
                    cols = constants_start.to(x.device)[:, None] + torch.arange(c, device=x.device)
                q = enc(x[rows, cols], mask[rows, cols], batch.times[rows, cols])
                read_ok = step_ok[rows, cols]
            tokens[m] = q
            # rows with nothing read get a dummy average; the fusion ignores absent modalities
            agg_ok = read_ok | ~read_ok.any(1, keepdim=True)
            post = aggregate_tokens(dist.Normal(q.loc[:, :c], q.scale[:, :c]), agg_ok)
            posts[m] = self._with_state(m, post, x, mask, batch.times, step_ok)
        return tokens, posts, present

    def _prior_dists(
        self,
        batch: MultimodalBatch,
        posts: Mapping[str, dist.Normal] | None,
        present: Any,
        **scheduled: Any,
    ) -> dict[str, dist.Distribution]:
        base = self.prior.distribution(
            PriorContext(num_sequences=batch.num_sequences, like=batch.times)
        )
        if posts is None:
            return {SHARED: base}
        return self.fusion.prior_distributions(posts, present, base, **scheduled)

    def _needs_posteriors_in_model(self) -> bool:
        return self.fusion.per_modality_latents or (
            type(self.fusion).prior_distributions is not Fusion.prior_distributions
        )

    def _score_mask(self, batch: MultimodalBatch, *, query_only: bool) -> Tensor:
        valid = batch.valid_steps()
        if query_only:
            valid = valid.clone()
            valid[:, : self.context] = False
        return valid

    # ------------------------------------------------------------------ model / guide
    def model(
        self,
        batch: MultimodalBatch,
        constants_start: Tensor | None = None,
        frames: Tensor | None = None,
        **scheduled: Any,
    ) -> dict[str, Any]:
        """p(psi) p(x_window | psi); returns ``{"z": site key -> (B, L, M), "params": ...}``.

        Args:
            batch: windows ``(B, L, ...)``.
            constants_start: ``(B,)``, passed to the encoders of a data-dependent prior (see
                :meth:`guide`).
            frames: ``(B, S)`` sorted step indices: only these frames are decoded and scored,
                weighted by ``L / S`` (``frames_per_window``); z and params are then
                ``(B, S, ...)``.
            **scheduled: scheduled values (fusion parameters).
        """
        self._check_window(batch)
        posts = present = None
        if self._needs_posteriors_in_model():
            _, posts, present = self._encode(batch, full=False, constants_start=constants_start)
        priors = self._prior_dists(batch, posts, present, **scheduled)
        offsets = self._offsets(batch.times)
        query_only = self.reference_compat or not self.score_context
        scored = self._score_mask(batch, query_only=query_only)
        obs_batch, weight = batch, 1.0
        if frames is not None:
            rows = torch.arange(batch.num_sequences, device=batch.device)[:, None]
            frames = frames.to(batch.device)
            offsets, scored = offsets[rows, frames], scored[rows, frames]
            obs_batch = _take_steps(batch, rows, frames)
            weight = batch.num_steps / frames.shape[1]
        with self.plate(batch):
            z = {}
            for key, p in priors.items():
                psi = pyro.sample(self._site(key), _as_event(p))
                z[key] = self.path(psi, offsets)
            params = {m: self.decoders[m](self.fusion.decoder_input(m, z)) for m in self.modalities}
            with poutine.scale(scale=weight):
                self.observe(obs_batch, params, step_mask=scored)
        return {"z": z, "params": params}

    def guide(
        self, batch: MultimodalBatch, constants_start: Tensor | None = None, **scheduled: Any
    ) -> dict[str, Any]:
        """q(psi | context); returns the token Gaussians, code posteriors and presence.

        Args:
            batch: windows ``(B, L, ...)``.
            constants_start: ``(B,)`` first frame of the ``context`` frames the constants
                encoders read (default: the context itself; see ``constants_crop``).
            **scheduled: scheduled values (fusion parameters).
        """
        self._check_window(batch)
        full = self.embedding_weight > 0
        tokens, posts, present = self._encode(batch, full=full, constants_start=constants_start)
        dists = self.fusion.guide_distributions(posts, present)
        with self.plate(batch):
            for key, q in dists.items():
                pyro.sample(self._site(key), _as_event(q))
        steps = {m: batch.step_mask(m) & batch.valid_steps() for m in tokens}
        return {"tokens": tokens, "posteriors": posts, "present": present, "steps": steps}

    # ------------------------------------------------------------------ windows
    def shooting_batch(
        self, batch: MultimodalBatch, horizon: float | int | None = None
    ) -> tuple[MultimodalBatch, Tensor | None]:
        """Cuts a batch into multiple-shooting windows (each row becomes an example).

        Args:
            batch: sequences ``(B, T, ...)`` of equal valid length >= the window length.
            horizon: q, query steps per window (None: everything after the context, one
                window per sequence).

        Returns:
            The window batch ``(B * k, C + q + o, ...)`` and, with overlap, ``(B * (k - 1), 2)``
            row pairs ``(b, b + 1)`` of consecutive windows (else None).
        """
        if batch.static:
            raise ValueError("LaDID expects sequences, got a static batch")
        lengths = batch.valid_steps().sum(1)
        usable = int(lengths.min())
        c, o = self.context, self.overlap
        if usable <= c:
            raise ValueError(
                f"context of {c} frames is not shorter than the trajectory ({usable} valid "
                "steps); LaDID needs frames after the context to predict"
            )
        q = usable - c - o if horizon is None else round(float(horizon))
        starts = shooting_starts(usable, c, q, o)
        n = starts.numel()
        b = batch.num_sequences
        k = min(self.windows_per_sequence, n)
        pairs = None
        if o > 0 and self.overlap_weight > 0 and n >= 2:
            k = max(k, 2)
            first = torch.randint(0, n - k + 1, (b,))
            choice = first[:, None] + torch.arange(k)
            base = torch.arange(b)[:, None] * k + torch.arange(k - 1)
            pairs = torch.stack([base.reshape(-1), base.reshape(-1) + 1], 1)
        elif k < n:
            choice = torch.rand(b, n).argsort(1)[:, :k].sort(1).values
        else:
            choice = torch.arange(n).expand(b, n)
        rows = torch.arange(b)[:, None].expand(b, k).reshape(-1)
        start = starts[choice.reshape(-1)]
        length = c + q + o
        steps = start[:, None] + torch.arange(length)
        dev = batch.device
        rows_d, steps_d = rows.to(dev), steps.to(dev)
        return _take_steps(batch, rows_d[:, None], steps_d), pairs

    # ------------------------------------------------------------------ objective
    def loss(
        self,
        batch: MultimodalBatch,
        horizon: float | int | None = None,
        beta: float = 1.0,
        **scheduled: Any,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Multiple-shooting objective per scored window step, with named terms.

        ``total = -ELBO + embedding_weight * reg.embedding + overlap_weight * reg.overlap``
        (+ the fusion's regulariser), each divided by the number of scored steps; terms:
        ``nll.<modality>``, ``kl.<site>`` (one-sample ``log q - log p``), ``reg.embedding``,
        ``reg.overlap``, ``reg.fusion`` (unweighted). With ``reference_compat`` the total is the
        reference's loss instead (``ref.recon``, ``ref.embedding``, ``ref.prior``,
        ``ref.overlap``). Not an ELBO when a regulariser is on (:attr:`is_elbo`).

        Args:
            batch: sequences at least ``context + horizon + overlap`` steps long.
            horizon: q of the curriculum (a ``schedules`` value passed by ``fit``).
            beta: weight of the ``kl.*`` terms (a schedule for KL warm-up or a beta-VAE
                pressure on the code); the total is the negative ELBO only at ``beta = 1``.
            **scheduled: other scheduled values, passed to model, guide and the fusion (e.g.
                MMVM's ``alpha``).
        """
        self.check_batch(batch)
        wb, pairs = self.shooting_batch(batch, horizon)
        crop = None
        if self.constants_crop:
            span = wb.num_steps - self.context + 1
            crop = torch.randint(0, span, (wb.num_sequences,), device=wb.device)
        frames = None
        if self.frames_per_window is not None and self.frames_per_window < wb.num_steps:
            draw = torch.rand(wb.num_sequences, wb.num_steps, device=wb.device)
            frames = draw.argsort(1)[:, : self.frames_per_window].sort(1).values
        guide_tr = poutine.trace(self.guide).get_trace(wb, constants_start=crop, **scheduled)
        model_tr = poutine.trace(poutine.replay(self.model, trace=guide_tr)).get_trace(
            wb, constants_start=crop, frames=frames, **scheduled
        )
        enc = guide_tr.nodes["_RETURN"]["value"]
        out = model_tr.nodes["_RETURN"]["value"]
        query_only = self.reference_compat or not self.score_context
        scored = self._score_mask(wb, query_only=query_only)
        norm = float(scored.sum().clamp_min(1))
        qmask = self._score_mask(wb, query_only=True)
        if self.reference_compat:
            return self._reference_loss(batch, wb, guide_tr, enc, out, qmask, pairs)
        model_tr.compute_log_prob()
        guide_tr.compute_log_prob()
        terms: dict[str, Tensor] = {}
        total = torch.zeros((), device=wb.device)
        for name, site in model_tr.nodes.items():
            if site["type"] != "sample" or isinstance(site["fn"], _Subsample):
                continue
            lp = site["log_prob_sum"]
            if site["is_observed"]:
                key, term = observed_term_name(name, self.modalities), -lp
            else:
                key, term = "kl." + name, guide_tr.nodes[name]["log_prob_sum"] - lp
            terms[key] = terms.get(key, 0.0) + term / norm
            total = total + (term if site["is_observed"] else float(beta) * term) / norm
        if self.embedding_weight > 0:
            emb = self._embedding_nll(enc, out["z"], qmask) / norm
            terms["reg.embedding"] = emb
            total = total + self.embedding_weight * emb
        if pairs is not None:
            q = wb.num_steps - self.context - self.overlap
            ov = self._overlap_nll(out["z"], pairs, q) / norm
            terms["reg.overlap"] = ov
            total = total + self.overlap_weight * ov
        fus = self.fusion.regularizer(enc["posteriors"], enc["present"], **scheduled)
        if fus is not None:
            terms["reg.fusion"] = fus.sum() / norm
            total = total + fus.sum() / norm
        return total, {k: torch.as_tensor(v).detach() for k, v in terms.items()}

    def _embedding_nll(
        self, enc: Mapping[str, Any], z: Mapping[str, Tensor], qmask: Tensor
    ) -> Tensor:
        """``-sum log N(z(t) | gamma_t, sigma_t)`` over query steps (LaDID's l_emb)."""
        tokens: Mapping[str, dist.Normal] = enc["tokens"]
        w = qmask.to(next(iter(z.values())).dtype)
        total = torch.zeros((), device=qmask.device)
        if self.fusion.per_modality_latents:
            for m, q in tokens.items():
                if m in z:
                    wm = w * enc["steps"][m].to(w.dtype)
                    total = total - (q.log_prob(z[m]).sum(-1) * wm).sum()
            return total
        steps = enc["steps"]
        if len(tokens) == 1:
            fused = next(iter(tokens.values()))
            w = w * next(iter(steps.values())).to(w.dtype)
        else:
            fused = self.fusion.posterior(tokens, steps)
            # steps no modality observes carry no embedding target
            w = w * self.fusion.any_present(steps, list(tokens)).to(w.dtype)
        return -(fused.log_prob(z[SHARED]).sum(-1) * w).sum()

    def _overlap_nll(self, z: Mapping[str, Tensor], pairs: Tensor, horizon: int) -> Tensor:
        """``-sum log N(z_b(t) | z_{b+1}(t), s^2)`` on the shared query steps of window pairs."""
        c, o = self.context, self.overlap
        total = None
        for zk in z.values():
            a = zk[pairs[:, 0], c + horizon : c + horizon + o]
            b = zk[pairs[:, 1], c : c + o]
            term = -dist.Normal(b, self.overlap_scale).log_prob(a).sum()
            total = term if total is None else total + term
        return total

    def _reference_loss(
        self,
        batch: MultimodalBatch,
        wb: MultimodalBatch,
        guide_tr: poutine.Trace,
        enc: Mapping[str, Any],
        out: Mapping[str, Any],
        qmask: Tensor,
        pairs: Tensor | None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The reference's loss (spec ladid 1.7): not an ELBO, for parity checks only."""
        recon = torch.zeros((), device=wb.device)
        for m in self.modalities:
            mean = self.likelihoods[m].mean(out["params"][m])
            lp = dist.Normal(mean, self.reference_obs_scale).log_prob(wb.obs[m])
            keep = wb.mask[m] & qmask.reshape(*qmask.shape, *([1] * (lp.dim() - 2)))
            recon = recon - (lp * keep).sum()
        emb = self._embedding_nll(enc, out["z"], qmask) if self.embedding_weight > 0 else 0.0
        prior = torch.zeros((), device=wb.device)
        for name, site in guide_tr.nodes.items():
            if site["type"] == "sample" and name.startswith("psi"):
                prior = prior - dist.Normal(0.0, 1.0).log_prob(site["value"]).sum()
        ov = 0.0
        if pairs is not None:
            horizon = wb.num_steps - self.context - self.overlap
            ov = self._overlap_nll(out["z"], pairs, horizon)
        scale = 1.0
        if self.reference_num_train is not None:
            scale = float(self.reference_num_train) / batch.num_sequences
        lam = self.embedding_weight
        total = scale * (recon + lam * (emb + prior) + ov)
        terms = {"ref.recon": recon, "ref.embedding": emb, "ref.prior": prior, "ref.overlap": ov}
        return total, {k: torch.as_tensor(v).detach() for k, v in terms.items()}

    # ------------------------------------------------------------------ inference
    def _context_batch(self, batch: MultimodalBatch, context: int | None) -> MultimodalBatch:
        if batch.static:
            raise ValueError("LaDID expects sequences, got a static batch")
        c = self.context if context is None else int(context)
        if c < 1 or c > batch.num_steps:
            raise ValueError(
                f"context of {c} frames is longer than the trajectory ({batch.num_steps} steps)"
            )
        return batch

    def code_posterior(self, batch: MultimodalBatch) -> dist.Normal:
        """q(psi | first ``context`` frames), fused over modalities: ``(B, K)``."""
        self._context_batch(batch, None)
        c = self.context
        valid = batch.valid_steps()
        if bool((valid[:, :c].sum(1) < c).any()):
            raise ValueError(f"some rows are shorter than the context of {c} frames")
        check_times(batch.times[:, :c], name="batch.times")
        _, posts, present = self._encode(batch, full=False)
        return self.fusion.posterior(posts, present)

    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """``{"latent": (B, T, M), "code": (B, K)}``: posterior-mean code and its latent path."""
        with torch.no_grad():
            code = self.code_posterior(batch).loc
            check_times(batch.times, batch.valid_steps(), name="batch.times")
            latent = self.path(code, self._offsets(batch.times))
        return {"latent": latent, "code": code}

    def forecast(
        self,
        batch: MultimodalBatch,
        times: Tensor | None = None,
        *,
        sample: bool = False,
        prediction: str = "default",
    ) -> dict[str, Tensor]:
        """Predictions at query times from the first ``context`` frames of ``batch``.

        Args:
            batch: sequences whose first ``context`` steps are the context.
            times: absolute query times ``(B, Q)`` or ``(Q,)`` (default: every step of the
                batch); they must lie within ``[t0, t0 + max_period)`` of each row's start.
            sample: draw psi from its posterior instead of using the mean.
            prediction: the likelihoods' point prediction (``default``, ``mean``, ...).

        Returns:
            ``{modality: (B, Q, *features), "latent": (B, Q, M), "code": (B, K)}``.
        """
        if isinstance(times, (int, float)) or (isinstance(times, Tensor) and times.dim() == 0):
            raise TypeError(
                "LaDID.forecast takes absolute query times (B, Q) or (Q,), not a number of "
                f"steps (got {times!r}); it predicts from the first {self.context} frames of "
                "the batch, not from every step (use generate(num_steps, init=batch))"
            )
        with torch.no_grad():
            q = self.code_posterior(batch)
            code = q.sample() if sample else q.loc
            t = batch.times if times is None else torch.as_tensor(times, device=code.device)
            t = t.to(code.dtype)
            if t.dim() == 1:
                t = t.expand(batch.num_sequences, -1)
            latent = self.path(code, t - batch.times[:, :1])
            out = self.predict(latent, prediction)
        out["latent"] = latent
        out["code"] = code
        return out

    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality for latents ``(..., M)``."""
        z = latent if isinstance(latent, Mapping) else {SHARED: latent}
        if not isinstance(latent, Mapping) and self.fusion.per_modality_latents:
            z = {m: latent for m in self.modalities}
        return {m: self.decoders[m](self.fusion.decoder_input(m, z)) for m in self.modalities}

    def _context_step(self, init: MultimodalBatch) -> tuple[Tensor, Tensor]:
        """Per row: the last context time ``(B,)`` and the context's sampling interval ``(B,)``."""
        c = self.context
        t = init.times[:, :c]
        dt = (t[:, -1] - t[:, 0]) / max(c - 1, 1) if c > 1 else torch.ones_like(t[:, 0])
        return t[:, -1], dt

    def generation_limit(self, init: MultimodalBatch) -> int | None:
        """Most steps :meth:`generate` can give after the context of ``init`` (None: no limit).

        With :class:`~pyrodyn.dynamics.query.QueryDynamics` the query offsets
        ``t_C + k dt - t_0`` must stay below the time encoding's largest period (where it
        wraps around); a discrete-time dynamics has no such limit.

        Args:
            init: sequences whose first ``context`` frames are the context.

        Returns:
            The largest ``n`` with every row's ``n``-th query offset inside the period, at
            least 0.
        """
        if not self.query_time:
            return None
        self._context_batch(init, None)
        last, dt = self._context_step(init)
        head = float((last - init.times[:, 0]).max())
        step = float(dt.min())
        if not step > 0:
            raise ValueError("the context's time stamps must increase to define a step")
        period = self.dynamics.max_period * (1 - 1e-6)
        n = math.floor((period - head) / step)
        # guard the floor against rounding at the boundary
        while n > 0 and head + n * float(dt.max()) >= period:
            n -= 1
        return max(n, 0)

    def generate(
        self,
        num_steps: int,
        *,
        init: MultimodalBatch | None = None,
        num_trials: int = 1,
        burn_in: int = 0,
        prediction: str = "default",
    ) -> dict[str, Tensor]:
        """Predictions for ``num_steps`` steps after the context of ``init`` (no free-running).

        LaDID has no step map: states are queried at ``t_C, t_C + dt, ...`` where dt is the
        context's sampling interval; the query may not pass the time encoding's period.
        ``num_trials`` is ignored (one prediction per row of ``init``);
        :meth:`generation_limit` says how many steps fit.
        """
        if init is None:
            raise ValueError(
                "LaDID.generate needs `init`: a batch whose first frames are the context"
            )
        if num_steps < 1 or burn_in < 0:
            raise ValueError(f"need num_steps >= 1 and burn_in >= 0, got {num_steps}, {burn_in}")
        self._context_batch(init, None)
        last, dt = self._context_step(init)
        k = torch.arange(burn_in, burn_in + num_steps, device=last.device, dtype=last.dtype)
        times = last[:, None] + dt[:, None] * (k + 1)
        out = self.forecast(init, times, prediction=prediction)
        out.pop("code")
        return out


def _take_steps(batch: MultimodalBatch, rows: Tensor, steps: Tensor) -> MultimodalBatch:
    """``x[rows, steps]`` of every per-step array: rows ``(N, 1)``, steps ``(N, S)``."""
    t = batch.num_steps
    r = rows[:, 0]

    def take(x: Tensor) -> Tensor:
        return x[rows, steps]

    extras = {
        key: take(v) if v.dim() >= 2 and v.shape[1] == t else v[r]
        for key, v in batch.extras.items()
    }
    return MultimodalBatch(
        obs={m: take(x) for m, x in batch.obs.items()},
        mask={m: take(x) for m, x in batch.mask.items()},
        times=take(batch.times),
        lengths=torch.full((r.numel(),), steps.shape[1], dtype=torch.long, device=r.device),
        inputs=None if batch.inputs is None else take(batch.inputs),
        extras=extras,
        index=None if batch.index is None else batch.index[r],
    )


def default_decoder(latent_dim: int, likelihood: Likelihood) -> nn.Module:
    """A frame CNN decoder for 2-D/3-D features, an MLP decoder for vectors."""
    if len(likelihood.feature_shape) >= 2:
        return FrameCNNDecoder(latent_dim, likelihood)
    return MLPDecoder(latent_dim, likelihood, hidden=(128, 128))


def _as_event(d: dist.Distribution) -> dist.Distribution:
    """Element-wise ``(B, K)`` posteriors/priors -> batch ``(B,)``, event ``(K,)``."""
    if len(d.batch_shape) >= 2:
        return d.to_event(len(d.batch_shape) - 1)
    return d


__all__ = ["LaDID", "default_decoder", "horizon_curriculum", "shooting_starts"]

"""LaDID: an instance code per trajectory window and one universal query-time dynamics.

Lagemann, Lagemann & Mukherjee, "Learning Latent Dynamics via Invariant Decomposition and
(Spatio-)Temporal Transformers" (arXiv 2306.12077; ICLR 2024 as "Invariance-based Learning of
Latent Dynamics"), reimplemented from specs/ladid.md sections 1, 7.4 and 8.1 as a Pyro model and
guide over a batch of windows (the first ``context`` steps of each row are its context):

* **model**: in the sequence plate, ``psi ~ p(psi)`` (a static prior slot ``(B, K)``, or the
  fusion's prior); ``z(t) = dynamics.path(psi, t - t0)`` at every step of the window; each
  modality is scored under its likelihood from its decoder. The regularisers that are not part
  of an ELBO are named ``pyro.factor`` sites with weights passed as keywords: ``reg.embedding``
  (LaDID's "l_emb"), ``reg.overlap`` (smoothness between overlapping windows), ``reg.fusion``
  (the fusion's coupling term). ``beta`` scales the ``psi`` site(s) in model and guide.
* **guide**: per modality, a continuous-time transformer over the context gives per-token
  Gaussians, aggregated as the law of the mean of one sample per token; several modalities are
  fused (:class:`~pyrodyn.nn.fusion.base.Fusion`), and the guide family turns the Gaussian into
  q over the prior's site.

The training recipe (multiple-shooting windows, crops, frame subsets, regulariser weights) is
the objective's, :class:`~pyrodyn.models.ladid.objective.LaDIDObjective` (``model.elbo``);
``model.loss`` is its loss per scored window step, and :attr:`LaDID.is_elbo` is read from it
(False when a regulariser is on). Called directly (``Predictive``, an AutoGuide), model and guide
take a batch as one window per sequence with every regulariser off: the plain ELBO of the pair.
"""

from __future__ import annotations

from typing import Any

import pyro
import pyro.poutine as poutine
import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import ForecastsFromContext, Generates, HasInstanceCode
from pyrodyn.models.ladid.objective import LaDIDObjective
from pyrodyn.models.ladid.regularisers import embedding_nll, overlap_nll
from pyrodyn.models.ladid.structure import _as_event, _LaDIDStructure
from pyrodyn.models.ladid.windows import step_subset
from pyrodyn.nn.encoders.ct_transformer import check_times
from pyrodyn.nn.fusion.base import SHARED
from pyrodyn.objectives.elbo import TermsELBO


class LaDID(_LaDIDStructure, Generates, ForecastsFromContext, HasInstanceCode):
    """LaDID as a Pyro model/guide pair over windows (see the module docstring).

    Args:
        likelihoods: modality -> likelihood (any family; learned observation scales).
        encoders: modality -> continuous-time transformer giving per-token Gaussians of size K
            (of the constants part with ``state_encoders``); modalities without an encoder are
            decoded but never encoded.
        dynamics: :class:`~pyrodyn.dynamics.query.QueryDynamics` (psi is the code) or any
            discrete-time :class:`DynamicsModel` (psi is the initial state; needs ``time_step``).
        decoders: modality -> decoder ``(..., M) -> params`` (default: a frame CNN for 2-D/3-D
            features, an MLP for vectors).
        fusion: combines the modality posteriors of psi (default product of experts; with one
            modality it is the identity).
        prior: the prior of psi, a static slot ``(B, K)`` (default N(0, I)); the fusion may
            replace it (MMVM).
        context: C, context frames per window (LaDID: 10).
        time_step: sampling interval that turns time offsets into integer steps for a
            discrete-time ``dynamics``.
        state_encoders: optional modality -> transformer over only the first ``state_frames``
            frames, splitting the code into ``psi = [constants ; state]`` (see
            :attr:`constants_dim`): the ``encoders`` give the constants part (size ``K - K_s``)
            from the context, these give the initial-state part (size K_s). Because the state
            part already explains the window's initial condition, the constants part is pushed
            to carry only what a few frames cannot show (a pyrodyn extension; with the
            objective's ``constants_crop`` it reads a random stretch of each window).
        state_frames: frames the state encoders see, ``1 <= state_frames <= context``.
        guide_family: how the fused Gaussian becomes q over the prior's site (default
            :class:`~pyrodyn.priors.guide.MeanField`; mixture fusions keep their mixture).
    """

    default_objective = LaDIDObjective

    # ------------------------------------------------------------------ the objective
    def default_elbo(self) -> TermsELBO:
        """:class:`LaDIDObjective` with LaDID's defaults.

        ``reg.embedding`` (weight 1) is on where it applies: not for a split code, nor when the
        code and latent sizes differ (weight 0 there, a proper ELBO).
        """
        applies = not self.state_dim and self.code_dim == self.latent_dim
        return LaDIDObjective(embedding_weight=1.0 if applies else 0.0)

    @property
    def elbo(self) -> TermsELBO:
        """The objective (:meth:`default_elbo` until one is assigned); see the base class."""
        return GenerativeModel.elbo.fget(self)

    @elbo.setter
    def elbo(self, value: TermsELBO) -> None:
        if isinstance(value, LaDIDObjective):
            value.check_model(self)
        GenerativeModel.elbo.fset(self, value)

    @property
    def is_elbo(self) -> bool:
        """Whether ``model.elbo`` is a negative ELBO of the pair, decided by the objective.

        False with ``reg.embedding`` or ``reg.overlap`` on, and for the reference objective
        (:attr:`LaDIDObjective.is_elbo`); another objective (e.g. a plain ``TraceELBO``, one
        window per sequence, no overlap pairs) is an ELBO unless its options weight
        ``reg.embedding``.
        """
        objective = self.elbo
        if isinstance(objective, LaDIDObjective):
            return objective.is_elbo
        return not objective.options.get("embedding_weight", 0.0) > 0

    def normaliser(self, batch: MultimodalBatch) -> float:
        """Scored steps of the (window) batch: every valid step, or only the query steps.

        The reference objective is not normalised (1).
        """
        objective = self.elbo
        query_only = False
        if isinstance(objective, LaDIDObjective):
            if not objective.per_step:
                return 1.0
            query_only = objective.query_only
        return float(self._score_mask(batch, query_only=query_only).sum().clamp_min(1))

    # ------------------------------------------------------------------ model / guide
    def model(
        self,
        batch: MultimodalBatch,
        *,
        constants_start: Tensor | None = None,
        frames: Tensor | None = None,
        pairs: Tensor | None = None,
        beta: float = 1.0,
        embedding_weight: float = 0.0,
        overlap: int = 0,
        overlap_weight: float = 0.0,
        overlap_scale: float = 0.1,
        fusion_weight: float = 1.0,
        score_context: bool = True,
        horizon: Any = None,
        **scheduled: Any,
    ) -> dict[str, Any]:
        """p(psi) p(x_window | psi) and the weighted regularisers, over a batch of windows.

        Args:
            batch: windows ``(B, L, ...)`` (the objective cuts them; a plain batch is one
                window per sequence).
            constants_start: ``(B,)`` crop of the constants encoders (data-dependent priors).
            frames: ``(B, S)`` sorted step indices: only these frames are decoded and scored,
                weighted by ``L / S``.
            pairs: ``(P, 2)`` rows of consecutive overlapping windows (``reg.overlap``).
            beta: weight of the ``psi`` site(s) (KL weight).
            embedding_weight: weight of ``reg.embedding`` (0: no site).
            overlap: o, query steps shared by the windows of a pair.
            overlap_weight: weight of ``reg.overlap`` (0: no site).
            overlap_scale: s of the overlap term.
            fusion_weight: weight of ``reg.fusion`` (the fusion's regulariser, if any).
            score_context: score the context frames too (False: query frames only).
            horizon: consumed by the objective (ignored here).
            **scheduled: other scheduled values, passed to the fusion (e.g. MMVM's ``alpha``).

        Returns:
            ``{"z": site key -> (..., B, L, M), "params": ..., "reg": name -> unweighted
            (..., B)}`` (z and params over the ``frames`` only when given).
        """
        self._check_window(batch)
        tokens = embedding_weight > 0
        enc = None
        if tokens or self._needs_posteriors_in_model():
            enc = self._encodings.take((batch, constants_start), self._stamp())
            if enc is None or (tokens and not enc.full):
                enc = self._encode(batch, full=tokens, constants_start=constants_start)
        ctx = self._prior_context(batch, enc)
        base = self.prior.distribution(ctx)
        if enc is None:
            priors = {SHARED: base}
        else:
            priors = self.fusion.prior_distributions(enc.posteriors, enc.present, base, **scheduled)
        offsets = batch.times - batch.times[:, :1]
        scored = self._score_mask(batch, query_only=not score_context)
        obs_batch, weight = batch, 1.0
        if frames is not None:
            rows, obs_batch = step_subset(batch, frames)
            frames = frames.to(batch.device)
            offsets, scored = offsets[rows, frames], scored[rows, frames]
            weight = batch.num_steps / frames.shape[1]
        reg: dict[str, Tensor] = {}
        with self.plate(batch):
            z = {}
            for key, p in priors.items():
                with poutine.scale(scale=beta):
                    psi = pyro.sample(self._site(key), _as_event(p))
                z[key] = self.path(psi, offsets)
            params = {m: self.decoders[m](self.fusion.decoder_input(m, z)) for m in self.modalities}
            with poutine.scale(scale=weight):
                self.observe(obs_batch, params, step_mask=scored)
            if tokens:
                steps = {m: batch.step_mask(m) & batch.valid_steps() for m in enc.tokens}
                qmask = self._score_mask(batch, query_only=True)
                reg["embedding"] = embedding_nll(self.fusion, enc.tokens, steps, z, qmask)
                pyro.factor("reg.embedding", -embedding_weight * reg["embedding"])
            if pairs is not None and int(overlap) > 0 and overlap_weight > 0:
                q = batch.num_steps - self.context - int(overlap)
                reg["overlap"] = overlap_nll(
                    z,
                    pairs,
                    context=self.context,
                    horizon=q,
                    overlap=int(overlap),
                    scale=float(overlap_scale),
                    num_rows=batch.num_sequences,
                )
                pyro.factor("reg.overlap", -overlap_weight * reg["overlap"])
            if enc is not None and fusion_weight > 0:
                fus = self.fusion.regularizer(enc.posteriors, enc.present, **scheduled)
                if fus is not None:
                    reg["fusion"] = fus
                    pyro.factor("reg.fusion", -fusion_weight * fus)
        return {"z": z, "params": params, "reg": reg}

    def guide(
        self,
        batch: MultimodalBatch,
        *,
        constants_start: Tensor | None = None,
        beta: float = 1.0,
        embedding_weight: float = 0.0,
        **scheduled: Any,
    ) -> dict[str, Any]:
        """q(psi | context); returns the token Gaussians, code posteriors and presence.

        Args:
            batch: windows ``(B, L, ...)``.
            constants_start: ``(B,)`` first frame of the ``context`` frames the constants
                encoders read (default: the context itself).
            beta: weight of the ``psi`` site(s) (KL weight).
            embedding_weight: > 0 encodes every frame of the window (per-frame tokens for
                ``reg.embedding``), else only the context.
            **scheduled: the model's other keywords (unused by the guide).
        """
        self._check_window(batch)
        full = embedding_weight > 0
        enc = self._encode(batch, full=full, constants_start=constants_start)
        if full or self._needs_posteriors_in_model():
            # the model of this evaluation reads the same encoding instead of recomputing it
            self._encodings.put((batch, constants_start), self._stamp(), enc)
        dists = self._variational(enc, self._prior_context(batch, enc))
        with self.plate(batch), poutine.scale(scale=beta):
            for key, q in dists.items():
                pyro.sample(self._site(key), q)
        steps = {m: batch.step_mask(m) & batch.valid_steps() for m in enc.tokens}
        return {
            "tokens": enc.tokens,
            "posteriors": enc.posteriors,
            "present": enc.present,
            "steps": steps,
        }

    # ------------------------------------------------------------------ outputs
    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """``{"latent": (B, T, M), "code": (B, K)}``: posterior-mean code and its latent path."""
        with torch.no_grad():
            code = self.code_posterior(batch).loc
            check_times(batch.times, batch.valid_steps(), name="batch.times")
            latent = self.path(code, batch.times - batch.times[:, :1])
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

    def generate(
        self,
        num_steps: int,
        *,
        init: MultimodalBatch | None = None,
        num_trials: int | None = None,
        burn_in: int = 0,
        prediction: str = "default",
    ) -> dict[str, Tensor]:
        """Predictions for ``num_steps`` steps after the context of ``init`` (no free-running).

        LaDID has no step map: states are queried at ``t_C, t_C + dt, ...`` where dt is the
        context's sampling interval; the query may not pass the time encoding's period
        (:meth:`generation_limit` says how many steps fit).

        Args:
            num_steps: steps kept per trial.
            init: sequences whose first ``context`` frames are the contexts.
            num_trials: K trials from the rows of ``init`` taken in turn (row ``k % B``);
                None: one trial per row.
            burn_in: steps generated after the context and dropped first.
            prediction: the likelihoods' point prediction.

        Returns:
            ``{modality: (K, num_steps, *features), "latent": (K, num_steps, M)}``.
        """
        if init is None:
            raise ValueError(
                "LaDID.generate needs `init`: a batch whose first frames are the context"
            )
        if num_steps < 1 or burn_in < 0:
            raise ValueError(f"need num_steps >= 1 and burn_in >= 0, got {num_steps}, {burn_in}")
        if num_trials is not None:
            if int(num_trials) < 1:
                raise ValueError(f"num_trials must be >= 1 or None, got {num_trials}")
            if int(num_trials) != init.num_sequences:
                init = init[torch.arange(int(num_trials)) % init.num_sequences]
        self._context_batch(init)
        last, dt = self._context_step(init)
        k = torch.arange(burn_in, burn_in + num_steps, device=last.device, dtype=last.dtype)
        times = last[:, None] + dt[:, None] * (k + 1)
        out = self.forecast(init, times, prediction=prediction)
        out.pop("code")
        return out


__all__ = ["LaDID"]

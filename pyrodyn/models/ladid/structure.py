"""The structure of a LaDID model: its parts, their validation and the recognition helpers.

:class:`~pyrodyn.models.ladid.model.LaDID` adds the model/guide pair, the objective glue and the
forecasting outputs; this base holds what the constructor builds and the helpers both use.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributions as tdist
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.dynamics.query import QueryDynamics
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.handoff import Handoff, parameter_stamp
from pyrodyn.models.ladid.encoding import (
    Encoding,
    check_state_encoders,
    encode_windows,
)
from pyrodyn.models.ladid.objective import LaDIDObjective
from pyrodyn.nn.decoders import MLPDecoder
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer, check_times
from pyrodyn.nn.frame_decoder import FrameCNNDecoder
from pyrodyn.nn.fusion.base import SHARED, Fusion
from pyrodyn.nn.fusion.poe import ProductOfExperts
from pyrodyn.priors.base import STATIC, LatentPrior, PriorContext, check_slot
from pyrodyn.priors.guide import GuideFamily, MeanField
from pyrodyn.priors.normal import StandardNormalPrior


class _LaDIDStructure(GenerativeModel):
    """LaDID's parts and helpers; the arguments are documented on :class:`LaDID`."""

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
        time_step: float | None = None,
        state_encoders: Mapping[str, ContinuousTimeTransformer] | None = None,
        state_frames: int = 2,
        guide_family: GuideFamily | None = None,
        **removed: Any,
    ) -> None:
        if removed:
            moved = sorted(k for k in removed if k in LaDIDObjective.legacy_model_keys)
            if moved:
                raise TypeError(
                    f"LaDID: {moved} are training-recipe options now; give them to the "
                    "objective (model.elbo = LaDIDObjective(...), or the config's `objective:` "
                    "section)"
                )
            accepted = [
                n
                for n, q in inspect.signature(_LaDIDStructure.__init__).parameters.items()
                if n != "self" and q.kind is not q.VAR_KEYWORD
            ]
            raise TypeError(
                f"LaDID got unexpected keyword argument(s) {sorted(removed)}; it accepts {accepted}"
            )
        super().__init__(likelihoods)
        if not isinstance(dynamics, DynamicsModel):
            raise TypeError(f"dynamics must be a DynamicsModel, got {type(dynamics).__name__}")
        if not encoders:
            raise ValueError("LaDID needs at least one encoder (modality -> transformer)")
        unknown = [m for m in encoders if m not in self.likelihoods]
        if unknown:
            raise ValueError(f"encoders for unknown modalities {unknown}; have {self.modalities}")
        if int(context) < 1:
            raise ValueError(f"context must be >= 1, got {context}")
        self.context = int(context)
        self.dynamics = dynamics
        self.query_time = isinstance(dynamics, QueryDynamics)
        self.code_dim = dynamics.code_dim if self.query_time else dynamics.latent_dim
        self.latent_dim = dynamics.latent_dim
        self.state_dim = check_state_encoders(
            encoders, state_encoders, state_frames, context, self.code_dim
        )
        #: Size of the constants part ``psi[..., :constants_dim]`` (all of psi without a split).
        self.constants_dim = self.code_dim - self.state_dim
        self.state_frames = int(state_frames)
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
        self.time_step = None if time_step is None else float(time_step)
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
        prior = prior if prior is not None else StandardNormalPrior(self.code_dim)
        # the encoders give unimodal posteriors, which data-dependent priors read
        self.prior = check_slot(prior, "prior", STATIC, self.code_dim, "LaDID", posteriors=True)
        if guide_family is not None and not isinstance(guide_family, GuideFamily):
            raise TypeError(
                f"guide_family must be a GuideFamily, got {type(guide_family).__name__}"
            )
        self.guide_family = guide_family if guide_family is not None else MeanField()
        self._encodings = Handoff()

    # ------------------------------------------------------------------ helpers
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

    def path(self, code: Tensor, offsets: Tensor) -> Tensor:
        """Latents at time offsets from the window start.

        Args:
            code: psi ``(..., B, K)`` (leading sample dimensions broadcast).
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
    ) -> Encoding:
        return encode_windows(
            self.encoders,
            self.state_encoders,
            batch,
            self.context,
            self.state_frames,
            full=full,
            constants_start=constants_start,
        )

    def _stamp(self) -> tuple[Any, ...]:
        # straight from _modules: PyroModule attribute access re-registers plain submodules
        # with the param store inside a Pyro context, which costs more than the stamp itself
        mods = [
            m for k in ("encoders", "state_encoders") if (m := self._modules.get(k)) is not None
        ]
        return parameter_stamp(mods, self.training)

    def _needs_posteriors_in_model(self) -> bool:
        """Whether the model's prior or regulariser reads the unimodal posteriors."""
        fusion = type(self.fusion)
        return (
            self.fusion.per_modality_latents
            or self.prior.needs_posteriors
            or fusion.prior_distributions is not Fusion.prior_distributions
            or fusion.regularizer is not Fusion.regularizer
        )

    def _prior_context(self, batch: MultimodalBatch, enc: Encoding | None) -> PriorContext:
        return PriorContext.of_batch(
            batch,
            slot=STATIC,
            posteriors=None if enc is None else enc.posteriors,
            present=None if enc is None else enc.present,
        )

    def _score_mask(self, batch: MultimodalBatch, *, query_only: bool) -> Tensor:
        valid = batch.valid_steps()
        if query_only:
            valid = valid.clone()
            valid[:, : self.context] = False
        return valid

    def _variational(self, enc: Encoding, ctx: PriorContext) -> dict[str, tdist.Distribution]:
        """Site key -> q, batch ``(B,)``: Gaussian fusions through the guide family."""
        out = {}
        for key, q in self.fusion.guide_distributions(enc.posteriors, enc.present).items():
            base = q.base_dist if isinstance(q, tdist.Independent) else q
            if isinstance(base, tdist.Normal) and base.loc.dim() == 2:
                out[key] = self.guide_family(self.prior, base.loc, base.scale, ctx)
            else:  # a mixture family stays the fusion's
                out[key] = _as_event(q)
        return out

    # ------------------------------------------------------------------ inference
    def code_posterior(self, batch: MultimodalBatch) -> tdist.Normal:
        """q(psi | first ``context`` frames), fused over modalities: ``(B, K)``."""
        self._context_batch(batch)
        c = self.context
        valid = batch.valid_steps()
        if bool((valid[:, :c].sum(1) < c).any()):
            raise ValueError(f"some rows are shorter than the context of {c} frames")
        check_times(batch.times[:, :c], name="batch.times")
        enc = self._encode(batch, full=False)
        return self.fusion.posterior(enc.posteriors, enc.present)

    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality for latents ``(..., M)``."""
        z = latent if isinstance(latent, Mapping) else {SHARED: latent}
        if not isinstance(latent, Mapping) and self.fusion.per_modality_latents:
            z = {m: latent for m in self.modalities}
        return {m: self.decoders[m](self.fusion.decoder_input(m, z)) for m in self.modalities}

    def _context_batch(self, batch: MultimodalBatch) -> None:
        if batch.static:
            raise ValueError("LaDID expects sequences, got a static batch")
        if self.context > batch.num_steps:
            raise ValueError(
                f"context of {self.context} frames is longer than the trajectory "
                f"({batch.num_steps} steps)"
            )

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
        self._context_batch(init)
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


def default_decoder(latent_dim: int, likelihood: Likelihood) -> nn.Module:
    """A frame CNN decoder for 2-D/3-D features, an MLP decoder for vectors."""
    if len(likelihood.feature_shape) >= 2:
        return FrameCNNDecoder(latent_dim, likelihood)
    return MLPDecoder(latent_dim, likelihood, hidden=(128, 128))


def _as_event(d: tdist.Distribution) -> tdist.Distribution:
    """Element-wise ``(B, K)`` posteriors/priors -> batch ``(B,)``, event ``(K,)``."""
    if len(d.batch_shape) >= 2:
        return d.to_event(len(d.batch_shape) - 1)
    return d


__all__ = ["default_decoder"]

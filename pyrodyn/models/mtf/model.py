"""MTF: multimodal teacher forcing (Brenner, Hess, Koppe & Durstewitz, ICML 2024).

A multimodal encoder turns all observations into a per-step Gaussian posterior over a
K-dimensional latent ``z̃_t``. Its samples are the teacher signal of a PLRNN-type `DynamicsModel`
with ``M >= K`` units, sparsely teacher-forced every ``tau`` steps on its first K units
(:mod:`pyrodyn.dynamics.forcing`). One decoder per modality reads the first K latent units and is
shared between the encoder path and the dynamics path.

The Pyro pair (specs/mtf.md 1.5, 7.2): the guide samples the encoder latent at the site
``latent`` ``(B, T, K)`` (the encoder mean as a point mass with ``sample_latent=False``). The model
scores that latent

* by the prior slot ``prior`` (default :class:`~pyrodyn.priors.flat.FlatPrior`: a flat density,
  so the site's ELBO term is minus the encoder entropy ``−H``, in closed form under
  :class:`~pyrodyn.models.mtf.objective.MTFObjective`),
* by the observations under ``z̃`` (ordinary observe sites, ``nll.<modality>``: ``L_rec``),
* by the factor ``obs.<modality>``: the likelihood of the forced rollout's predictions
  ``log p_m(x_{t+1} | ẑ_{t+1})`` (``L_obs``),
* by the factor ``lat``: ``log N(z̃_{t+1}; ẑ_{t+1, 1:K}, σ_z²)`` (``L_lat``),
* with per-modality encoders and a fusion that couples them (MMVM's pull of every unimodal
  posterior toward the mixture of the available ones, Sutter, Daunhawer & Vogt, NeurIPS 2024), by
  the factor ``fusion``: ``−Σ_{m available} KL(q_m || h)``.

``L_rec + L_lat − H`` is the negative ELBO of a VAE whose prior is the forced rollout; ``L_obs``
is an extra generative term, so the objective is not an ELBO (``is_elbo = False``). The factors
are scaled so that the loss per observed sequence step equals the MTF objective with every term
averaged over its own valid steps (``L_obs`` and ``L_lat`` over the steps after the first).
The recipe (loss weights, input noise) is the objective's (:class:`MTFObjective`); the reference
code's quirks are :class:`~pyrodyn.models.mtf.reference.MTFReferenceObjective`.

Defaults follow specs/mtf.md 1.6 (tau 10, sampled encoder latent) except where measured
otherwise: in a 10-minute CPU budget on Lorenz-63 (BENCHMARKS.md) the encoder means as teacher
(``sample_latent=False``), K = M (window-parallel rollout), a clipped shallow PLRNN with M = 10
and a learned Gaussian scale learned faster; ``configs/mtf_lorenz63.yaml`` records the choice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.dynamics.forcing import (
    check_forcing,
    generalized_forcing_rollout,
    sparse_forcing_rollout,
)
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import ForecastsAhead, Generates
from pyrodyn.models.mtf.encoding import (
    build_encoders,
    check_windows,
    experts,
    teacher_posterior,
)
from pyrodyn.models.mtf.generation import forecast_ahead, free_run, teacher_states
from pyrodyn.models.mtf.objective import MTFObjective
from pyrodyn.models.mtf.recipe import Recipe
from pyrodyn.nn.decoders import Decoder, LinearDecoder
from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.fusion.base import Fusion
from pyrodyn.priors.base import SEQUENCE, LatentPrior, PriorContext, check_slot
from pyrodyn.priors.flat import FlatPrior

#: The latent site's name (stable: history columns, Predictive keys, posterior.nc variables).
SITE = "latent"


@contextlib.contextmanager
def weighted(weight: float) -> Iterator[None]:
    """Scales the sites inside by ``weight`` (masks them out for 0; Pyro's scale must be > 0)."""
    if weight == 1.0:
        yield
    elif weight > 0:
        with poutine.scale(scale=weight):
            yield
    else:
        with poutine.mask(mask=False):
            yield


class MTF(GenerativeModel, Generates, ForecastsAhead):
    """Multimodal teacher forcing of a latent dynamics model.

    Args:
        likelihoods: modality -> likelihood (any number and mix of modalities).
        dynamics: the latent map with M units (default family: PLRNN variants).
        forcing_dim: K, the forced / read-out subspace (first K units; default M).
        tau: sparse forcing interval (spec default 10-15; must not exceed the training window).
        encoder: one encoder over all modalities concatenated (early fusion, the reference's
            default); None builds a :class:`~pyrodyn.nn.encoders.temporal_conv.TemporalConvEncoder`
            (kernels 11/7/5) over the concatenation, with the mask as extra channels.
        encoders: modality -> encoder instead (per-modality experts combined by ``fusion``);
            windows missing a modality get the fusion's posterior from the available ones.
        fusion: how per-modality posteriors combine (default product of experts).
        decoders: modality -> decoder reading ``z_{1:K}`` (default linear).
        prior: the prior slot of the teacher latent (a sequence slot of latent_dim K): the
            default :class:`~pyrodyn.priors.flat.FlatPrior` leaves the latent to the forced
            rollout (the MTF objective); any other sequence `LatentPrior` (e.g.
            :class:`~pyrodyn.priors.ou.OrnsteinUhlenbeckPrior`) adds its log density. The site is
            always named ``latent``; priors with several sites are not supported.
        latent_scale: σ_z of the latent consistency term (1: the reference's squared error).
        learn_latent_scale: learn σ_z (per unit).
        sample_latent: use reparameterised encoder samples as teacher (False: the posterior
            means, a point mass without entropy, as the reference's ``sample_rec=0``).
        parallel_rollout: force the window-parallel rollout on/off (None: whenever K == M).
    """

    is_elbo: ClassVar[bool] = False
    default_objective = MTFObjective
    generation_options = frozenset({"inputs"})

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        dynamics: DynamicsModel,
        forcing_dim: int | None = None,
        *,
        tau: int = 10,
        encoder: Encoder | None = None,
        encoders: Mapping[str, Encoder] | None = None,
        fusion: Fusion | None = None,
        decoders: Mapping[str, Decoder] | None = None,
        prior: LatentPrior | None = None,
        latent_scale: float = 1.0,
        learn_latent_scale: bool = False,
        sample_latent: bool = True,
        parallel_rollout: bool | None = None,
    ) -> None:
        super().__init__(likelihoods)
        if not isinstance(dynamics, DynamicsModel):
            raise TypeError(f"dynamics must be a DynamicsModel, got {type(dynamics).__name__}")
        m = dynamics.latent_dim
        k = m if forcing_dim is None else int(forcing_dim)
        check_forcing(tau, None, k, m)
        if not latent_scale > 0:
            raise ValueError(f"latent_scale must be positive, got {latent_scale}")
        self.dynamics = dynamics
        self.forcing_dim, self.tau = k, int(tau)
        self.sample_latent = bool(sample_latent)
        self.parallel_rollout = parallel_rollout
        log_s = torch.full((k,), float(latent_scale)).log()
        if learn_latent_scale:
            self.log_latent_scale = nn.Parameter(log_s)
        else:
            self.register_buffer("log_latent_scale", log_s)
        build_encoders(self, k, encoder, encoders, fusion)
        self.prior = check_slot(
            FlatPrior(k) if prior is None else prior, "prior", SEQUENCE, k, "MTF"
        )
        if self.prior.needs_posteriors and self.encoders is None:
            raise ValueError(
                f"MTF slot 'prior': {type(self.prior).__name__} needs unimodal posteriors; give "
                "per-modality `encoders`"
            )
        decoders = dict(decoders or {})
        unknown = sorted(set(decoders) - set(self.modalities))
        if unknown:
            raise ValueError(f"decoders given for unknown modalities {unknown}")
        self.decoders = nn.ModuleDict(
            {
                mod: decoders.get(mod) or LinearDecoder(k, lik)
                for mod, lik in self.likelihoods.items()
            }
        )

    # ------------------------------------------------------------------ encoder
    @property
    def latent_scale(self) -> Tensor:
        """σ_z of the latent consistency term ``(K,)``."""
        return self.log_latent_scale.exp()

    def _check_training(self, batch: MultimodalBatch, values: bool = True) -> None:
        """Structure of the windows (and with ``values`` the observed values) for the pair."""
        check_windows(self, batch)
        if values:
            self.check_batch(batch)
        t = batch.num_steps
        check_forcing(self.tau, t, self.forcing_dim, self.dynamics.latent_dim)
        if t < 2:
            raise ValueError(f"MTF needs windows of at least 2 steps, got {t}")

    def unimodal_posteriors(
        self, batch: MultimodalBatch
    ) -> tuple[dict[str, dist.Normal], dict[str, Tensor]]:
        """Per-modality posteriors ``q_m`` ``(B, T, K)`` and availability ``(B, T)`` bool.

        Only for per-modality encoders (``encoders=``); inputs are never noised here.

        Raises:
            ValueError: the model has one joint encoder, or a sequence has no observed modality.
        """
        if self.encoders is None:
            raise ValueError("the model has one joint encoder; unimodal posteriors need `encoders`")
        check_windows(self, batch)
        return experts(self, batch)

    def posterior(self, batch: MultimodalBatch) -> dist.Normal:
        """Encoder posterior ``q(z̃ | x)``: ``Normal`` with batch shape ``(B, T, K)`` (no noise).

        Raises:
            ValueError: a sequence has no observed modality at all.
        """
        check_windows(self, batch)
        return teacher_posterior(self, batch)[0]

    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Posterior means ``{"latent": (B, T, K)}``."""
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                return {"latent": self.posterior(batch).loc}
        finally:
            self.train(was)

    # ------------------------------------------------------------------ decoders
    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality from latents ``(..., D >= K)`` (first K units read)."""
        if isinstance(latent, Mapping):
            latent = latent["latent"]
        if latent.shape[-1] < self.forcing_dim:
            raise ValueError(
                f"latents need at least K={self.forcing_dim} units, got {tuple(latent.shape)}"
            )
        u = latent[..., : self.forcing_dim]
        return {mod: self.decoders[mod](u) for mod in self.modalities}

    # ------------------------------------------------------------------ model / guide
    def _context(
        self,
        batch: MultimodalBatch,
        posts: Mapping[str, dist.Normal] | None = None,
        present: Mapping[str, Tensor] | None = None,
    ) -> PriorContext:
        return PriorContext.of_batch(
            batch,
            posteriors=posts,
            present=None if present is None else {m: p.any(-1) for m, p in present.items()},
        )

    def guide(self, batch: MultimodalBatch, **recipe: Any) -> Tensor:
        """Samples the encoder latent at the site ``latent`` ``(B, T, K)``; returns it.

        Keyword arguments are the recipe (:class:`~pyrodyn.models.mtf.recipe.Recipe`): the
        encoder inputs of continuous modalities get ``input_noise`` in training mode, and
        ``entropy_weight`` scales the site.
        """
        r = Recipe.parse(recipe, "MTF.guide")
        self._check_training(batch)
        q, posts, present = teacher_posterior(self, batch, r.draws())
        ctx = self._context(batch, posts, present)
        if self.sample_latent:
            site = self.prior.guide_distribution(q.loc, q.scale, ctx)
        else:
            mean = self.prior.posterior(q.loc, q.scale, ctx).mean
            site = dist.Delta(mean, event_dim=mean.dim() - 1)
        with self.plate(batch), weighted(r.entropy_weight):
            value = pyro.sample(SITE, site)
        return self.prior.to_latent(value, ctx)

    def model(self, batch: MultimodalBatch, **recipe: Any) -> Tensor:
        """Scores the teacher latent by its prior, the observations and the forced rollout.

        Sites: ``latent`` (the prior slot, scaled by ``entropy_weight``), the observe sites
        under ``z̃`` (``rec_weight``) and the factors ``obs.<modality>`` (``obs_weight``),
        ``lat`` (``lat_weight``) and, for a coupling fusion, ``fusion`` (``fusion_weight``).
        Every site broadcasts over leading sample dimensions of the latent. Returns the latent.
        """
        r = Recipe.parse(recipe, "MTF.model")
        # the guide validates the observed values; a model run alone (an AutoGuide, prior
        # predictive) gets them checked by the likelihoods' own support checks
        self._check_training(batch, values=False)
        posts = present = reg = None
        if self.encoders is not None:
            # the coupling term scores the same unimodal posteriors as the guide (same noise)
            posts, present = experts(self, batch, r.draws())
            opts = {} if r.fusion_alpha is None else {"alpha": r.fusion_alpha}
            reg = self.fusion.regularizer(posts, present, **opts)
        ctx = self._context(batch, posts, present)
        t, k = batch.num_steps, self.forcing_dim
        valid = batch.valid_steps()
        v_rec = valid.to(self.log_latent_scale.dtype)
        v_next = v_rec[:, 1:]
        # L_obs and L_lat average over the steps after the first: rescale to per-step units
        ratio = v_rec.sum().clamp_min(1) / v_next.sum().clamp_min(1)
        with self.plate(batch):
            with weighted(r.entropy_weight):
                value = pyro.sample(SITE, self.prior.distribution(ctx))
            z = self.prior.to_latent(value, ctx)
            pred = self.rollout(z, batch.inputs, r.alpha)
            guess = pred[..., :-1, :k]
            # decode encoder latents and rollout predictions in one pass per modality
            params = self.decode(torch.cat([z, guess], -2))
            tdim = z.dim() - 2
            lead = z.shape[:-2]
            rec = {m: {n: v.narrow(tdim, 0, t) for n, v in p.items()} for m, p in params.items()}
            with weighted(r.rec_weight):
                self.observe(batch, rec, step_mask=None if batch.lengths is None else valid)
            for mod in self.modalities:
                gen = {n: v.narrow(tdim, t, t - 1) for n, v in params[mod].items()}
                x, mask = batch.obs[mod][:, 1:], batch.mask[mod][:, 1:]
                x = x.expand(*lead, *x.shape[1:])
                lp = self.likelihoods[mod].log_prob(gen, x, mask.expand(x.shape))
                w = r.obs_weight * self.modality_weights.get(mod, 1.0)
                pyro.factor(f"obs.{mod}", w * ratio * (lp * v_next).sum(-1))
            lat = dist.Normal(guess, self.latent_scale).log_prob(z[..., 1:, :]).sum(-1)
            pyro.factor("lat", r.lat_weight * ratio * (lat * v_next).sum(-1))
            if reg is not None:
                pyro.factor("fusion", -r.fusion_weight * (reg * v_rec).sum(-1))
        return z

    # ------------------------------------------------------------------ rollout
    def rollout(
        self, teacher: Tensor, inputs: Tensor | None = None, alpha: float | None = None
    ) -> Tensor:
        """Forced rollout predictions ``(..., B, T, M)`` (``out[..., t, :]`` for step t + 1).

        Sparse identity forcing every ``tau`` steps; with ``alpha`` < 1, generalized forcing.
        Leading sample dimensions of ``teacher`` ``(..., B, T, K)`` are kept.
        """
        if alpha is not None and float(alpha) < 1.0:
            return generalized_forcing_rollout(
                self.dynamics, teacher, float(alpha), tau=self.tau, inputs=inputs
            )
        return sparse_forcing_rollout(
            self.dynamics, teacher, self.tau, inputs=inputs, parallel=self.parallel_rollout
        )

    def teacher_states(self, batch: MultimodalBatch) -> Tensor:
        """Latent states ``(B, T, M)`` along the teacher-forced trajectory (no gradients).

        The forced units are the encoder's posterior means; unforced units (``K < M``) start
        from N(0, 1) and are carried by a rollout forced at every step. Adaptive generalized
        forcing (:class:`~pyrodyn.infer.adaptive_forcing.AdaptiveForcingUpdate`) evaluates the
        Jacobians of ``dynamics`` at these states.
        """
        return teacher_states(self, batch)

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        num_steps: int,
        *,
        init: MultimodalBatch | None = None,
        num_trials: int = 1,
        burn_in: int = 0,
        prediction: str = "default",
        inputs: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The model's own free run from one encoder state, decoded.

        Trial ``i`` starts from the encoder's posterior mean at the first step of sequence
        ``i mod B`` of ``init`` (unforced units from N(0, 1), as in the reference), or from
        N(0, I) without ``init``; it runs ``burn_in + num_steps - 1`` steps and the first
        ``burn_in`` states are dropped. No data are replayed.

        Args:
            num_steps: steps returned.
            init: batch whose first steps give the initial states.
            num_trials: number of trajectories.
            burn_in: transient steps dropped.
            prediction: ``"default"`` (Gaussian mean, ordinal mode, Poisson mean, categorical
                argmax), ``"mean"``, ``"mode"`` or ``"sample"``.
            inputs: ``(num_trials, burn_in + num_steps, S)`` external inputs.

        Returns:
            ``{modality: (trials, steps, *features), "latent": (trials, steps, M)}``.
        """
        return free_run(
            self,
            num_steps,
            init=init,
            num_trials=num_trials,
            burn_in=burn_in,
            prediction=prediction,
            inputs=inputs,
        )

    def forecast(self, batch: MultimodalBatch, horizon: int) -> dict[str, Tensor]:
        """n-step forecasts from every step of a batch: ``{m: (B, T, H, *features)}``.

        ``out[m][:, t, h]`` predicts ``x_{t+h+1}``: the model starts at the encoder mean of step
        t (the unforced units carried along a rollout forced at every step) and runs h + 1 steps.
        """
        return forecast_ahead(self, batch, horizon)


__all__ = ["MTF", "SITE", "weighted"]

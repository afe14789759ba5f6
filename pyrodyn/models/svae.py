"""Sequential VAE with a dynamical prior: the SVAE baseline of MTF (specs/mtf.md 3.3).

Generative model (Krishnan et al., "Structured inference networks for nonlinear state space
models", AAAI 2017; used as a baseline by Brenner et al., ICML 2024)::

    z_1 ~ N(0, s0^2 I),   z_{t+1} ~ N(F(z_t), diag(sigma^2)),   x^m_t ~ p_m(x | dec_m(z_t))

with any discrete-time `DynamicsModel` F (default `LinearDynamics`) and one likelihood per
modality. The guide is an amortised per-step diagonal Gaussian q(z_t | x) from a temporal encoder
over all modalities concatenated, turned into a distribution over the prior's site by the guide
family (mean-field by default). The ELBO is the base class's ``Trace_ELBO``: ``nll.<modality>``
terms plus one KL term of the vectorised latent site ``prior.z``, scaled by the KL weight
``beta``. The prior is a sequence slot: any `LatentPrior` of ``(B, T, D)`` trajectories works
(OU, Fourier or dense GP, a dynamical prior); ``generate`` and ``forecast`` need a
`DynamicalPrior` (a transition map to iterate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyro
import pyro.poutine as poutine
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.base import DynamicsModel, LinearDynamics
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import ForecastsAhead, Generates, HasProperPrior
from pyrodyn.nn.decoders import Decoder, LinearDecoder, MLPDecoder
from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder, concat_observations
from pyrodyn.priors.base import SEQUENCE, LatentPrior, PriorContext, check_slot
from pyrodyn.priors.dynamical import DynamicalPrior
from pyrodyn.priors.guide import GuideFamily, MeanField
from pyrodyn.priors.structured import guide_family as named_guide_family


class SVAE(GenerativeModel, Generates, ForecastsAhead, HasProperPrior):
    """Sequential VAE: amortised per-step Gaussian posterior, Markov dynamical prior.

    Args:
        likelihoods: modality -> likelihood.
        latent_dim: D.
        dynamics: the transition map F (default ``LinearDynamics(latent_dim)``).
        encoder: an `Encoder` over all modalities concatenated along features, in the order of
            ``likelihoods`` (default ``TemporalConvEncoder(total features, latent_dim)``).
        decoder: ``"linear"`` (GLM readout), ``"mlp"``, or modality -> `Decoder`.
        decoder_hidden: hidden widths of the ``"mlp"`` decoders.
        init_scale: initial prior scale s0 (learned).
        noise_scale: initial transition noise sigma (learned, per latent dimension).
        prior: any `LatentPrior` of the sequence slot (``(B, T, D)`` trajectories) instead of
            the dynamical prior (``dynamics``, ``init_scale`` and ``noise_scale`` are then
            unused). ``generate`` and ``forecast`` need a `DynamicalPrior`.
        guide_family: how the encoder's per-step Gaussians become q over the prior's site: a
            `GuideFamily`, or by name ``"mean_field"`` (the default,
            :class:`~pyrodyn.priors.guide.MeanField`) or ``"structured"`` (a Markov Gaussian over
            the trajectory, :class:`~pyrodyn.priors.structured.StructuredMarkov`).
    """

    generation_options = frozenset({"noise"})

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        latent_dim: int,
        dynamics: DynamicsModel | None = None,
        encoder: Encoder | None = None,
        decoder: Literal["linear", "mlp"] | Mapping[str, Decoder] = "linear",
        decoder_hidden: Sequence[int] = (64, 64),
        init_scale: float = 1.0,
        noise_scale: float = 0.1,
        prior: LatentPrior | None = None,
        guide_family: GuideFamily | Literal["mean_field", "structured"] | None = None,
    ) -> None:
        super().__init__(likelihoods)
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim!r}")
        self.latent_dim = int(latent_dim)
        if prior is not None:
            if dynamics is not None:
                raise ValueError("give either `prior` or `dynamics`, not both")
            self.prior = check_slot(prior, "prior", SEQUENCE, self.latent_dim, "SVAE")
        else:
            if dynamics is None:
                dynamics = LinearDynamics(self.latent_dim)
            dynamics = self._checked("dynamics", dynamics, DynamicsModel)
            self.prior = DynamicalPrior(dynamics, init_scale=init_scale, noise_scale=noise_scale)
        input_dim = sum(self.likelihoods[m].num_features for m in self.modalities)
        if encoder is None:
            encoder = TemporalConvEncoder(input_dim, self.latent_dim)
        self.encoder = self._checked("encoder", encoder, Encoder, "an")
        self.decoders = nn.ModuleDict(self._make_decoders(decoder, decoder_hidden))
        if isinstance(guide_family, str):
            guide_family = named_guide_family(guide_family, self.latent_dim)
        if guide_family is not None and not isinstance(guide_family, GuideFamily):
            raise TypeError(
                f"guide_family must be a GuideFamily, got {type(guide_family).__name__}"
            )
        self.guide_family = guide_family if guide_family is not None else MeanField()

    def _checked(self, name: str, part: Any, base: type, article: str = "a") -> Any:
        """``part`` if it is a ``base`` whose ``latent_dim`` matches the model's (else raises)."""
        if not isinstance(part, base):
            raise TypeError(f"{name} must be {article} {base.__name__}, got {type(part).__name__}")
        if part.latent_dim != self.latent_dim:
            raise ValueError(
                f"{name}.latent_dim is {part.latent_dim} but latent_dim is {self.latent_dim}"
            )
        return part

    def _make_decoders(
        self, decoder: str | Mapping[str, Decoder], hidden: Sequence[int]
    ) -> dict[str, Decoder]:
        if isinstance(decoder, Mapping):
            if set(decoder) != set(self.modalities):
                raise ValueError(
                    f"decoder must map every modality {self.modalities} to a Decoder, got "
                    f"{sorted(decoder)}"
                )
            for m, d in decoder.items():
                if not isinstance(d, Decoder):
                    raise TypeError(f"decoder of {m!r} must be a Decoder, got {type(d).__name__}")
            return dict(decoder)
        if decoder == "linear":
            return {m: LinearDecoder(self.latent_dim, lik) for m, lik in self.likelihoods.items()}
        if decoder == "mlp":
            return {
                m: MLPDecoder(self.latent_dim, lik, hidden=tuple(hidden))
                for m, lik in self.likelihoods.items()
            }
        raise ValueError(
            f"decoder must be 'linear', 'mlp' or a mapping modality -> Decoder, got {decoder!r}"
        )

    @property
    def dynamics(self) -> DynamicsModel:
        """The transition map F (only with a `DynamicalPrior`)."""
        if not isinstance(self.prior, DynamicalPrior):
            raise TypeError(
                f"this SVAE uses a {type(self.prior).__name__} prior, which has no transition map; "
                "generate() and forecast() need a DynamicalPrior"
            )
        return self.prior.dynamics

    # ------------------------------------------------------------------ model / guide
    def _context(self, batch: MultimodalBatch) -> PriorContext:
        return PriorContext.of_batch(batch)

    def posterior(self, batch: MultimodalBatch) -> torch.distributions.Normal:
        """The encoder's per-step Gaussians q(z_t | x): a ``Normal`` with batch ``(B, T, D)``.

        Steps beyond a sequence's length are hidden from the encoder (as missing), so padding
        never leaks into the posterior of valid steps.
        """
        x, mask = concat_observations(batch, self.modalities)
        if batch.lengths is not None:
            mask = mask & batch.valid_steps()[..., None]
            x = x * mask
        return self.encoder(x, mask)

    def model(self, batch: MultimodalBatch, beta: float = 1.0) -> Tensor:
        """p(z) p(x | z); ``beta`` scales the latent site (KL weight). Returns z ``(B, T, D)``."""
        ctx = self._context(batch)
        with self.plate(batch):
            with poutine.scale(scale=beta):
                z = self.prior(ctx)
            params = {m: self.decoders[m](z) for m in self.modalities}
            step_mask = None if batch.lengths is None else batch.valid_steps()
            self.observe(batch, params, step_mask=step_mask)
        return z

    def variational(self, batch: MultimodalBatch) -> torch.distributions.Distribution:
        """Q over the prior's site (batch ``(B,)``) from the guide family."""
        q = self.posterior(batch)
        return self.guide_family(self.prior, q.loc, q.scale, self._context(batch))

    def guide(self, batch: MultimodalBatch, beta: float = 1.0) -> Tensor:
        """q(z | x) at the prior's site (padding steps masked). Returns the site value."""
        q = self.variational(batch)
        with self.plate(batch), poutine.scale(scale=beta):
            return pyro.sample(self.prior.site_name, q)

    # ------------------------------------------------------------------ inference outputs
    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Posterior means in the time domain ``{"latent": (B, T, D)}``."""
        self.check_batch(batch)
        with torch.no_grad():
            mean = self.variational(batch).mean
            return {"latent": self.prior.to_latent(mean, self._context(batch))}

    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality for latents ``(..., D)``."""
        if isinstance(latent, Mapping):
            latent = latent["latent"]
        return {m: self.decoders[m](latent) for m in self.modalities}

    def forecast(
        self, batch: MultimodalBatch, horizon: int, prediction: str = "default"
    ) -> dict[str, Tensor]:
        """n-step predictions from the posterior mean at each step, rolled through F.

        ``out[m][b, t, k]`` predicts ``x^m_{t + k + 1}`` from ``E q(z_t | x)``.

        Args:
            batch: sequences ``(B, T, ...)``.
            horizon: H >= 1 steps ahead.
            prediction: likelihood prediction kind (``default``, ``mean``, ``mode``, ``sample``).

        Returns:
            modality -> ``(B, T, H, *feature_shape)``.
        """
        if int(horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon!r}")
        z = self.encode(batch)["latent"]
        path = self.dynamics.rollout(z, int(horizon))  # (B, T, H, D)
        return self.predict(path, prediction)

    def generate(
        self,
        num_steps: int,
        *,
        init: MultimodalBatch | None = None,
        num_trials: int = 1,
        burn_in: int = 0,
        prediction: str = "default",
        noise: bool = True,
    ) -> dict[str, Tensor]:
        """The model's own free run (never replayed data).

        Starts from the posterior mean of the first step of each ``init`` sequence (cycling over
        them for ``num_trials``), or from a prior draw without ``init``; iterates
        ``z_{t+1} = F(z_t) (+ sigma * eps with noise)`` and decodes every state.

        Args:
            num_steps: steps kept per trial.
            init: sequences whose first step gives the initial states.
            num_trials: number of trajectories K.
            burn_in: steps generated and dropped first.
            prediction: likelihood prediction kind per step.
            noise: add the prior's transition noise (the generative model); False gives the
                deterministic skeleton of F.

        Returns:
            modality -> ``(K, num_steps, *feature_shape)`` and ``"latent"`` ``(K, num_steps, D)``.
        """
        if int(num_steps) < 1 or int(num_trials) < 1 or int(burn_in) < 0:
            raise ValueError(
                f"need num_steps >= 1, num_trials >= 1, burn_in >= 0; got {num_steps}, "
                f"{num_trials}, {burn_in}"
            )
        dynamics = self.dynamics  # a clear error for priors without a transition map
        ref = next(self.parameters())
        with torch.no_grad():
            if init is not None:
                init = init.to(ref.device)
                z0 = self.encode(init)["latent"][:, 0]
                z = z0[torch.arange(int(num_trials), device=ref.device) % z0.shape[0]]
            else:
                z = self.prior.init_scale * torch.randn(
                    int(num_trials), self.latent_dim, device=ref.device, dtype=ref.dtype
                )
            states = [z]
            for _ in range(int(burn_in) + int(num_steps) - 1):
                z = dynamics.step(z)
                if noise:
                    z = z + self.prior.noise_scale * torch.randn_like(z)
                states.append(z)
            latent = torch.stack(states, 1)[:, int(burn_in) :]
            out = self.predict(latent, prediction)
        out["latent"] = latent
        return out


__all__ = ["SVAE"]

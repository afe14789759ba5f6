"""A multimodal VAE of per-modality encoders, decoders and likelihoods with any `Fusion`.

With the :class:`~pyrodyn.nn.fusion.MMVM` fusion this is the MMVM VAE of Sutter et al., "Unity by
Diversity: Improved Representation Learning in Multimodal VAEs" (NeurIPS 2024); with
:class:`~pyrodyn.nn.fusion.Independent`, :class:`~pyrodyn.nn.fusion.Mean`,
:class:`~pyrodyn.nn.fusion.ProductOfExperts`, :class:`~pyrodyn.nn.fusion.MixtureOfExperts` or
:class:`~pyrodyn.nn.fusion.MixtureOfProductsOfExperts` it is the corresponding baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.distributions.weighted import Weighted
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import Imputes
from pyrodyn.models.handoff import Handoff, parameter_stamp
from pyrodyn.models.multimodal_vae_objective import (
    MultimodalVAEObjective,
    check_beta,
    check_scheduled,
)
from pyrodyn.nn.decoders import Decoder, LinearDecoder, MLPDecoder
from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.fusion.base import SHARED, Fusion
from pyrodyn.nn.fusion.mmvm import MMVM
from pyrodyn.objectives.elbo import TERM_KEY
from pyrodyn.priors.base import SEQUENCE, STATIC, LatentPrior, PriorContext, check_slot
from pyrodyn.priors.factorised import FactorisesOverSteps


class MultimodalVAE(GenerativeModel, Imputes):
    """Per-modality encoders ``q_m(z | x_m)``, a fusion, and per-modality decoders/likelihoods.

    The fusion decides the latent sites (``z_shared``, or ``z_<m>`` per modality for
    :class:`Independent` and :class:`MMVM`), their variational family and which latent each
    decoder reads; every site is a slot of ``prior``. A missing modality (an all-False mask in a
    row, or at a step) contributes no expert, no mixture component and no likelihood term. Works
    on static samples (``static=True``: obs ``(B, *feature_shape)``, latents ``(B, D)``) and on
    sequences, one latent per time step (obs ``(B, T, *feature_shape)``, latents ``(B, T, D)``).

    Model and guide take the keyword arguments ``beta`` (KL weight), ``kl_per_modality`` (count a
    shared latent's KL once per modality available at the row or step) and ``alpha`` (MMVM's
    scheduled N(0, I) weight); they weight each latent site per row (or step) in both, zero
    where the site carries no data. The objective (:class:`MultimodalVAEObjective`, the default
    ``model.elbo``) holds their values. With a data-dependent prior (MMVM) the objective is not
    an ELBO (``is_elbo`` is False): choose between fusions by held-out metrics
    (:mod:`pyrodyn.metrics.probes`), never by training loss.

    Args:
        likelihoods: modality -> likelihood.
        encoders: modality -> encoder (all with the same ``latent_dim``).
        fusion: the fusion rule.
        decoders: modality -> decoder (default: :class:`MLPDecoder` with ``decoder_hidden``).
        decoder_hidden: hidden widths of the default decoders (empty: linear decoders).
        static: True for static samples, False for sequences.
        modality_weights: modality -> likelihood weight ``w_m`` (default 1).
        prior: the prior of every latent site, a `LatentPrior` that factorises over steps
            (:class:`~pyrodyn.priors.StandardNormalPrior`,
            :class:`~pyrodyn.priors.MMVMMixturePrior`); default: the fusion's
            (:meth:`Fusion.default_prior`: N(0, I), MMVM's mixture for :class:`MMVM`).
    """

    default_objective = MultimodalVAEObjective

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        encoders: Mapping[str, Encoder],
        fusion: Fusion,
        *,
        decoders: Mapping[str, Decoder] | None = None,
        decoder_hidden: Sequence[int] = (128,),
        static: bool = True,
        modality_weights: Mapping[str, float] | None = None,
        prior: LatentPrior | None = None,
    ) -> None:
        super().__init__(likelihoods)
        if not isinstance(fusion, Fusion):
            raise TypeError(f"fusion must be a pyrodyn Fusion, got {type(fusion).__name__}")
        mods = list(likelihoods)
        if set(encoders) != set(mods):
            raise ValueError(
                f"encoders must name exactly the modalities {mods}, got {sorted(encoders)}"
            )
        for m, e in encoders.items():
            if not isinstance(e, Encoder):
                raise TypeError(f"encoder of {m!r} must be a pyrodyn Encoder, got {type(e)}")
        sizes = {m: e.latent_dim for m, e in encoders.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(
                f"encoders must share one latent size for fusion {type(fusion).__name__}, got "
                f"{sizes}"
            )
        self.latent_dim = next(iter(sizes.values()))
        self.fusion = fusion
        self.encoders = nn.ModuleDict({m: encoders[m] for m in mods})
        self.decoders = nn.ModuleDict(self._make_decoders(decoders, decoder_hidden))
        self.is_static = bool(static)
        if prior is None:
            prior = fusion.default_prior(self.latent_dim)
        elif isinstance(fusion, MMVM):
            raise ValueError(
                "MultimodalVAE slot 'prior': the MMVM fusion brings its own prior (the mixture of "
                "the unimodal posteriors); for another prior use fusion Independent() with prior="
            )
        self.prior = self._check_prior(prior)
        self.is_elbo = not self.prior.needs_posteriors
        # the guide's unimodal posteriors, handed to a data-dependent prior in the model
        self._handoff = Handoff()
        for m, w in (modality_weights or {}).items():
            if m not in mods:
                raise ValueError(f"modality_weights names unknown modality {m!r}; have {mods}")
            if not float(w) >= 0:
                raise ValueError(f"modality weight of {m!r} must be >= 0, got {w}")
            self.modality_weights[m] = float(w)

    def _make_decoders(
        self, decoders: Mapping[str, Decoder] | None, hidden: Sequence[int]
    ) -> dict[str, Decoder]:
        mods = self.modalities
        if decoders is None:
            return {
                m: (
                    MLPDecoder(self.latent_dim, self.likelihoods[m], hidden=tuple(hidden))
                    if hidden
                    else LinearDecoder(self.latent_dim, self.likelihoods[m])
                )
                for m in mods
            }
        if set(decoders) != set(mods):
            raise ValueError(
                f"decoders must name exactly the modalities {mods}, got {sorted(decoders)}"
            )
        for m, d in decoders.items():
            if d.latent_dim != self.latent_dim:
                raise ValueError(
                    f"decoder of {m!r} reads latents of size {d.latent_dim}, the encoders give "
                    f"{self.latent_dim}"
                )
        return {m: decoders[m] for m in mods}

    def _check_prior(self, prior: LatentPrior) -> LatentPrior:
        shape = STATIC if self.is_static else SEQUENCE
        check_slot(prior, "prior", shape, self.latent_dim, "MultimodalVAE", posteriors=True)
        if not isinstance(prior, FactorisesOverSteps):
            raise ValueError(
                f"MultimodalVAE slot 'prior' holds one latent per sample or step, so its prior "
                f"must factorise over steps (StandardNormalPrior, MMVMMixturePrior); "
                f"{type(prior).__name__} does not (trajectory priors: use SVAE or MMGPVAE)"
            )
        return prior

    # ------------------------------------------------------------------ inference pieces
    def present(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Availability per modality: ``(B,)`` (static) or ``(B, T)`` inside the valid length."""
        if batch.static:
            return {m: batch.present(m) for m in self.modalities}
        valid = batch.valid_steps()
        return {m: batch.step_mask(m) & valid for m in self.modalities}

    def posteriors(
        self, batch: MultimodalBatch
    ) -> tuple[dict[str, dist.Normal], dict[str, Tensor]]:
        """Unimodal posteriors ``q_m`` (element-wise ``(B, [T,] D)``) and availability masks."""
        post = {m: self.encoders[m](batch.obs[m], batch.mask[m]) for m in self.modalities}
        return post, self.present(batch)

    def _stamp(self) -> tuple:
        # straight from _modules: attribute access inside a Pyro context costs param statements
        return parameter_stamp([self._modules["encoders"]], self.training)

    def context(
        self,
        batch: MultimodalBatch,
        posteriors: Mapping[str, dist.Normal] | None = None,
        present: Mapping[str, Tensor] | None = None,
    ) -> PriorContext:
        """The prior context of a batch (with the unimodal posteriors for data-dependent priors)."""
        return PriorContext.of_batch(batch, posteriors=posteriors, present=present)

    def site_weights(
        self, present: Mapping[str, Tensor], beta: float = 1.0, kl_per_modality: bool = True
    ) -> dict[str, Tensor]:
        """Site key -> the weight of its KL per row or step, ``(B, [T])``: 0 where no data.

        ``beta`` per modality site where the modality is available; for a shared site ``beta``
        times the number of available modalities (``kl_per_modality``) or times 1 where any is.
        """
        beta = check_beta(beta)
        if self.fusion.per_modality_latents:
            return {m: beta * present[m].float() for m in self.modalities}
        count = torch.stack([present[m] for m in self.modalities]).float().sum(0)
        return {SHARED: beta * (count if kl_per_modality else (count > 0).float())}

    def _validated(self, batch: MultimodalBatch) -> None:
        # model and guide see the same batch object in one loss evaluation: validate it once
        if getattr(self, "_checked_batch", None) is not batch:
            self.check_batch(batch)
            self._checked_batch = batch

    def _check(self, batch: MultimodalBatch, available: Sequence[str] | None = None) -> None:
        self.check_batch(batch)
        if available is not None:
            unknown = [m for m in available if m not in self.modalities]
            if unknown or not available:
                raise ValueError(
                    f"available must name at least one of the modalities {self.modalities}, "
                    f"got {list(available)}"
                )

    def _site(self, name: str, d: dist.TorchDistribution, weight: Tensor) -> Tensor:
        """Samples latent site ``z_<name>``: per-row/step factors weighted, steps folded."""
        w = Weighted(d, weight)
        return pyro.sample(
            f"z_{name}",
            w if self.is_static else w.to_event(1),
            infer={TERM_KEY: f"kl.{name}"},
        )

    # ------------------------------------------------------------------ Pyro model/guide
    def model(
        self,
        batch: MultimodalBatch,
        *,
        beta: float = 1.0,
        kl_per_modality: bool = True,
        alpha: float | None = None,
        **unknown: Any,
    ) -> dict[str, Tensor]:
        """p(x | z) p(z): the prior slot (MMVM: the mixture of unimodal posteriors), observes."""
        check_scheduled(unknown)
        self._validated(batch)
        present = self.present(batch)
        post = None
        if self.prior.needs_posteriors:
            post = self._handoff.take((batch,), self._stamp())
            if post is None:
                post = self.posteriors(batch)[0]
        ctx = self.context(batch, post, present)
        # the per-step factors are the same for every site: built once
        factors = self.prior.step_distribution(ctx, **({} if alpha is None else {"alpha": alpha}))
        weights = self.site_weights(present, beta, kl_per_modality)
        with self.plate(batch):
            z = {k: self._site(k, factors, w) for k, w in weights.items()}
            params = {m: self.decoders[m](self.fusion.decoder_input(m, z)) for m in self.modalities}
            self.observe(batch, params)
        return z

    def guide(
        self,
        batch: MultimodalBatch,
        *,
        beta: float = 1.0,
        kl_per_modality: bool = True,
        alpha: float | None = None,
        **unknown: Any,
    ) -> dict[str, Tensor]:
        """q(z | X) from the fusion's guide distributions, weighted as the model's sites."""
        check_scheduled(unknown)
        self._validated(batch)
        post, present = self.posteriors(batch)
        if self.prior.needs_posteriors:
            self._handoff.put((batch,), self._stamp(), post)
        guides = self.fusion.guide_distributions(post, present)
        weights = self.site_weights(present, beta, kl_per_modality)
        with self.plate(batch):
            return {k: self._site(k, g, weights[k]) for k, g in guides.items()}

    # ------------------------------------------------------------------ representations
    @torch.no_grad()
    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Posterior means: ``latent`` (fused, ``(B, [T,] D)``) and ``latent_<m>`` per modality.

        ``latent_<m>`` is the unimodal encoder mean (the "unimodal" representation of the MMVM
        paper, the latent decoder ``m`` reads for independent and MMVM); ``latent`` is the mean
        of the fusion's posterior from the available modalities.
        """
        self.check_batch(batch)
        post, present = self.posteriors(batch)
        out = {"latent": self.fusion.posterior(post, present).loc}
        for m, q in post.items():
            out[f"latent_{m}"] = q.loc
        return out

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Alias of :meth:`encode` (representations for probes)."""
        return self.encode(batch)

    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality.

        ``latent`` ``(..., D)`` feeds every decoder, or a mapping gives each site's latent (keys
        as :meth:`Fusion.site_keys`).
        """
        out = {}
        for m in self.modalities:
            if isinstance(latent, Mapping):
                z = self.fusion.decoder_input(m, latent)
            else:
                z = latent
            out[m] = self.decoders[m](z)
        return out

    @torch.no_grad()
    def reconstruct(self, batch: MultimodalBatch, prediction: str = "mean") -> dict[str, Tensor]:
        """Predictions of every modality from its posterior mean (self-reconstruction)."""
        self.check_batch(batch)
        post, present = self.posteriors(batch)
        guides = self.fusion.guide_distributions(post, present)
        if self.fusion.mixture_posterior:
            z = {SHARED: self.fusion.posterior(post, present).loc}
        else:
            z = {k: g.mean for k, g in guides.items()}
        params = self.decode(z)
        return {m: self.likelihoods[m].predict(params[m], prediction) for m in params}

    @torch.no_grad()
    def impute(
        self,
        batch: MultimodalBatch,
        available: Sequence[str],
        *,
        sample: bool = False,
        prediction: str = "mean",
    ) -> dict[str, Tensor]:
        """Conditional generation of every modality from the ``available`` ones.

        The other modalities are treated as missing (whatever the batch holds); the latent is the
        fusion's posterior from the available modalities (its mean, or one draw when ``sample``),
        fed to every decoder.

        Args:
            batch: the data.
            available: the conditioning modalities.
            sample: draw the latent instead of using the posterior mean.
            prediction: the likelihood's point prediction (``mean``, ``mode``, ``sample``).

        Returns:
            modality -> prediction ``(B, [T,] *feature_shape)`` for every modality.
        """
        self._check(batch, available)
        for m in self.modalities:
            if m not in available:
                batch = batch.drop(m)
        post, present = self.posteriors(batch)
        fused = self.fusion.posterior(post, present)
        z = fused.sample() if sample else fused.loc
        params = self.decode(z)
        return {m: self.likelihoods[m].predict(params[m], prediction) for m in params}


__all__ = ["MultimodalVAE", "MultimodalVAEObjective"]

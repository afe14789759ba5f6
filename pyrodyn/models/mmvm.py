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
import pyro.poutine as poutine
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import Imputes
from pyrodyn.nn.decoders import Decoder, LinearDecoder, MLPDecoder
from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.fusion.base import SHARED, Fusion
from pyrodyn.nn.fusion.mmvm import MMVM


def site_kl(q: dist.Distribution, p: dist.Distribution, value: Tensor) -> Tensor:
    """``KL(q || p)`` per row.

    The registered closed form (or bound) when one exists, else the one-sample Monte-Carlo
    ``log q(value) - log p(value)``.
    """
    try:
        return torch.distributions.kl_divergence(q, p)
    except NotImplementedError:
        return q.log_prob(value) - p.log_prob(value)


class MultimodalVAE(GenerativeModel, Imputes):
    """Per-modality encoders ``q_m(z | x_m)``, a fusion, and per-modality decoders/likelihoods.

    The fusion decides the latent sites (one shared latent, or one per modality for
    :class:`Independent` and :class:`MMVM`), their prior or regulariser and which latent each
    decoder reads. A missing modality (an all-False mask in a row, or at a step) contributes no
    expert, no mixture component and no likelihood term. Works on static samples
    (``static=True``: obs ``(B, *feature_shape)``, latents ``(B, D)``) and on sequences, one latent
    per time step (obs ``(B, T, *feature_shape)``, latents ``(B, T, D)``).

    Objective (:meth:`loss`, per sample or observed step)::

        sum_m w_m * NLL_m(x_m | z) + beta * sum_sites KL(q_site || p_site)

    where the KL is the registered closed form (Gaussian fusions; MMVM's ``pairwise`` and ``lse``
    bounds) or a one-sample Monte-Carlo estimate (mixture posteriors; MMVM ``mc``). With a shared
    latent the KL counts once per available modality when ``kl_per_modality`` (the reference's
    ``M * beta`` convention, which keeps beta comparable with the per-modality fusions). With MMVM
    the objective is not an ELBO (``is_elbo`` is False): choose between fusions by held-out
    metrics (:mod:`pyrodyn.metrics.probes`), never by training loss.

    Args:
        likelihoods: modality -> likelihood.
        encoders: modality -> encoder (all with the same ``latent_dim``).
        fusion: the fusion rule.
        decoders: modality -> decoder (default: :class:`MLPDecoder` with ``decoder_hidden``).
        decoder_hidden: hidden widths of the default decoders (empty: linear decoders).
        beta: KL weight (a scheduled ``beta`` passed to :meth:`loss` overrides it).
        static: True for static samples, False for sequences.
        modality_weights: modality -> likelihood weight ``w_m`` (default 1).
        kl_per_modality: count a shared latent's KL once per available modality.
    """

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        encoders: Mapping[str, Encoder],
        fusion: Fusion,
        *,
        decoders: Mapping[str, Decoder] | None = None,
        decoder_hidden: Sequence[int] = (128,),
        beta: float = 1.0,
        static: bool = True,
        modality_weights: Mapping[str, float] | None = None,
        kl_per_modality: bool = True,
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
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.latent_dim = next(iter(sizes.values()))
        self.fusion = fusion
        self.encoders = nn.ModuleDict({m: encoders[m] for m in mods})
        if decoders is None:
            decoders = {
                m: (
                    MLPDecoder(self.latent_dim, likelihoods[m], hidden=tuple(decoder_hidden))
                    if decoder_hidden
                    else LinearDecoder(self.latent_dim, likelihoods[m])
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
        self.decoders = nn.ModuleDict({m: decoders[m] for m in mods})
        self.beta = float(beta)
        self.is_static = bool(static)
        self.is_elbo = not isinstance(fusion, MMVM)
        self.kl_per_modality = bool(kl_per_modality)
        for m, w in (modality_weights or {}).items():
            if m not in mods:
                raise ValueError(f"modality_weights names unknown modality {m!r}; have {mods}")
            if float(w) < 0:
                raise ValueError(f"modality weight of {m!r} must be >= 0, got {w}")
            self.modality_weights[m] = float(w)

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

    def _check(self, batch: MultimodalBatch, available: Sequence[str] | None = None) -> None:
        self.check_batch(batch)
        if available is not None:
            unknown = [m for m in available if m not in self.modalities]
            if unknown or not available:
                raise ValueError(
                    f"available must name at least one of the modalities {self.modalities}, "
                    f"got {list(available)}"
                )

    def _scheduled(self, scheduled: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
        beta = float(scheduled.get("beta", self.beta))
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        options = {k: v for k, v in scheduled.items() if k == "alpha" and v is not None}
        return beta, options

    def terms(self, batch: MultimodalBatch, **scheduled: Any) -> dict[str, Tensor]:
        """Unweighted per-row terms ``nll.<m>`` and ``kl.<site>``, each ``(B,)``.

        Sequences are summed over time; KLs include the ``kl_per_modality`` factor.
        """
        _, options = self._scheduled(scheduled)
        post, present = self.posteriors(batch)
        guides = self.fusion.guide_distributions(post, present)
        priors = self.fusion.prior_distributions(post, present, **options)
        site_present = self.fusion.site_present(post, present)
        z = {k: g.rsample() for k, g in guides.items()}
        out: dict[str, Tensor] = {}
        for k, g in guides.items():
            kl = site_kl(g, priors[k], z[k])
            if k == SHARED and self.kl_per_modality:
                count = torch.stack([present[m] for m in self.modalities]).sum(0)
                kl = kl * count.to(kl.dtype)
            kl = torch.where(site_present[k], kl, torch.zeros_like(kl))
            out[f"kl.{k}"] = kl if batch.static else kl.sum(-1)
        for m in self.modalities:
            params = self.decoders[m](self.fusion.decoder_input(m, z))
            lp = self.likelihoods[m].log_prob(params, batch.obs[m], batch.mask[m])
            out[f"nll.{m}"] = -(lp if batch.static else lp.sum(-1))
        return out

    # ------------------------------------------------------------------ objective
    def loss(self, batch: MultimodalBatch, **scheduled: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """``(total, terms)``: the weighted objective per sample (or observed step).

        Scheduled values: ``beta`` (KL weight) and ``alpha`` (MMVM's N(0, I) weight).
        """
        self._check(batch)
        beta, _ = self._scheduled(scheduled)
        per_row = self.terms(batch, **scheduled)
        norm = self.normaliser(batch)
        total = None
        terms: dict[str, Tensor] = {}
        for key, value in per_row.items():
            weight = beta if key.startswith("kl.") else self.modality_weights[key[4:]]
            term = value.sum() / norm
            terms[key] = term.detach()
            total = weight * term if total is None else total + weight * term
        return total, terms

    # ------------------------------------------------------------------ Pyro model/guide
    def _site_dists(self, batch: MultimodalBatch, model: bool, **scheduled: Any):
        _, options = self._scheduled(scheduled)
        post, present = self.posteriors(batch)
        if model:
            dists = self.fusion.prior_distributions(post, present, **options)
        else:
            dists = self.fusion.guide_distributions(post, present)
        site_present = self.fusion.site_present(post, present)
        out = {}
        for k, d in dists.items():
            d = d.mask(site_present[k])
            out[k] = d if batch.static else d.to_event(1)
        return out

    def model(self, batch: MultimodalBatch, **scheduled: Any) -> dict[str, Tensor]:
        """p(x | z) h(z | X): the fusion's prior (data-dependent for MMVM) and masked observes.

        The prior's KL weight is applied with ``poutine.scale(beta)`` in model and guide alike.
        """
        beta, _ = self._scheduled(scheduled)
        priors = self._site_dists(batch, True, **scheduled)
        with self.plate(batch):
            z = {}
            with poutine.scale(scale=beta):
                for k, p in priors.items():
                    z[k] = pyro.sample(f"z_{k}", p)
            params = {m: self.decoders[m](self.fusion.decoder_input(m, z)) for m in self.modalities}
            self.observe(batch, params)
        return z

    def guide(self, batch: MultimodalBatch, **scheduled: Any) -> dict[str, Tensor]:
        """q(z | X) from the fusion's guide distributions."""
        beta, _ = self._scheduled(scheduled)
        guides = self._site_dists(batch, False, **scheduled)
        with self.plate(batch), poutine.scale(scale=beta):
            return {k: pyro.sample(f"z_{k}", g) for k, g in guides.items()}

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

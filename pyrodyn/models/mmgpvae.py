"""MM-GPVAE: shared and private GP latents for several modalities (Gondur et al., ICLR 2024).

R. Gondur, U. B. Sikandar, E. Schaffer, M. C. Aoi, S. L. Keeley, "Multi-modal Gaussian Process
Variational Autoencoders for Neural and Behavioral Data", ICLR 2024. Reimplemented from the
description in specs/mmgpvae.md (no reference code reused), with these deliberate differences:

* the guide works for any trial length: per-step encoder outputs are Gaussian pseudo-observations
  combined with each latent's prior (:meth:`FourierGPPrior.posterior`), instead of the
  reference's ``Linear(T -> F)`` layer that fixes ``T``;
* the KL is the exact Gaussian KL (the reference evaluates the prior at ``mu + sigma``);
* trials of different lengths (masks), modalities missing in some trials or steps, and
  per-modality loss weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from gpytorch.kernels import RBFKernel
from pyro.nn import PyroModule
from pyro.poutine.util import site_is_factor
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.nn.decoders import LinearDecoder, MLPDecoder
from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.encoders.step_mlp import StepMLPEncoder
from pyrodyn.nn.fusion.base import Fusion
from pyrodyn.nn.fusion.mean import Mean
from pyrodyn.objectives.elbo import TERM_KEY, MeanFieldELBO
from pyrodyn.priors.base import SEQUENCE, LatentPrior, PriorContext, check_slot
from pyrodyn.priors.gp.fourier import FourierGPPrior
from pyrodyn.priors.guide import GuideFamily, MeanField

SHARED = "shared"


def default_gp_prior(latent_dim: int, lengthscale: float = 10.0) -> FourierGPPrior:
    """Fourier RBF prior, one learned length-scale per latent (initialised at ``lengthscale``)."""
    kernel = RBFKernel(batch_shape=torch.Size([latent_dim]))
    kernel.lengthscale = float(lengthscale)
    return FourierGPPrior(kernel=kernel, latent_dim=latent_dim)


def _refuse_scheduled(scheduled: Mapping[str, Any]) -> None:
    """MM-GPVAE has no scheduled values: a ``fit.schedules`` entry is a mistake, not ignored."""
    if scheduled:
        raise TypeError(
            f"MMGPVAE got unknown scheduled values {sorted(scheduled)}; it accepts [] (MM-GPVAE "
            "has no scheduled values)"
        )


class MMGPVAE(GenerativeModel):
    """Multimodal GP-VAE with shared and per-modality private latents.

    Generative model per trial: shared latents ``z_S (T, D_S)`` and, for each modality ``m``,
    private latents ``z_m (T, D_m)``, each group a sequence slot with its own prior (any
    sequence :class:`LatentPrior`; by default a Fourier-domain RBF GP). Modality ``m`` reads
    ``[z_S; z_m]`` through its loadings (an optional linear map to an embedding of size
    ``embedding_dims[m]``; without it the first layer of the decoder is the loading matrix, as
    in the paper's code) and its decoder, and is scored by its likelihood, weighted by
    ``modality_weights[m]``.

    Guide: each modality's encoder gives per-step Gaussians over ``[z_S; z_m]``; the shared parts
    of the modalities present at a step are combined by ``fusion`` (:class:`Mean`, as the paper,
    or :class:`ProductOfExperts`); the guide family (mean-field by default) turns each group's
    pseudo-observations into the variational distribution over its prior's site
    (:meth:`LatentPrior.posterior`: the GP priors combine them with the prior, any other prior
    gets the per-step Gaussians). The shared slot's context carries the modalities' shared-part
    posteriors, so the data-dependent MMVM mixture prior also fits there.

    Objective: ``MeanFieldELBO`` (closed-form KLs where registered, e.g. the GP priors; one
    Monte-Carlo sample otherwise); terms ``nll.<modality>`` (weighted), ``kl.<group>`` and
    ``hyperprior`` (negative log density of kernel hyperpriors).

    Args:
        likelihoods: modality -> likelihood.
        shared_dim: D_S.
        private_dims: modality -> D_m (an int applies to every modality; 0: no private latent).
        shared_prior: prior of the shared latents (default: Fourier RBF GP).
        private_priors: modality -> prior of its private latents (default: Fourier RBF GP).
        encoders: modality -> encoder with ``latent_dim = D_S + D_m`` (default
            :class:`StepMLPEncoder` with ``encoder_hidden``).
        fusion: fusion of the shared posteriors (default :class:`Mean`).
        embedding_dims: modality -> size of the linear loadings' output (default: none).
        decoder_hidden: modality -> hidden widths of the decoder MLP (empty: linear). Default:
            ``(128, 64)`` for continuous likelihoods, linear (a GLM readout, GPFA-style)
            otherwise.
        encoder_hidden: hidden widths of the default encoders.
        modality_weights: modality -> weight of its log-likelihood (default 1).
        lengthscale: initial length-scale (time units) of the default GP priors.
        init_intercepts: let :meth:`init_from_data` initialise the likelihoods from data (e.g.
            Poisson intercepts at the log mean count).
        guide_family: how pseudo-observations become q over a prior's site (default
            :class:`~pyrodyn.priors.guide.MeanField`).
    """

    default_objective = MeanFieldELBO

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        *,
        shared_dim: int = 1,
        private_dims: int | Mapping[str, int] = 1,
        shared_prior: LatentPrior | None = None,
        private_priors: Mapping[str, LatentPrior] | None = None,
        encoders: Mapping[str, Encoder] | None = None,
        fusion: Fusion | None = None,
        embedding_dims: Mapping[str, int] | None = None,
        decoder_hidden: Mapping[str, Sequence[int]] | None = None,
        encoder_hidden: Sequence[int] = (64, 32),
        modality_weights: Mapping[str, float] | None = None,
        lengthscale: float = 10.0,
        init_intercepts: bool = True,
        guide_family: GuideFamily | None = None,
    ) -> None:
        super().__init__(likelihoods)
        mods = self.modalities
        if int(shared_dim) < 0:
            raise ValueError(f"shared_dim must be >= 0, got {shared_dim}")
        self.shared_dim = int(shared_dim)
        if isinstance(private_dims, Mapping):
            self._check_keys("private_dims", private_dims, require_all=True)
            pdims = {m: int(private_dims[m]) for m in mods}
        else:
            pdims = {m: int(private_dims) for m in mods}
        bad = {m: d for m, d in pdims.items() if d < 0 or d + self.shared_dim < 1}
        if bad:
            raise ValueError(
                f"every modality needs at least one latent (shared_dim + private_dim >= 1, "
                f"private dims >= 0); got shared_dim={self.shared_dim}, private_dims {bad}"
            )
        self.private_dims = pdims
        self._make_priors(shared_prior, dict(private_priors or {}), lengthscale)
        self.encoders = nn.ModuleDict(self._make_encoders(dict(encoders or {}), encoder_hidden))
        self.fusion = fusion if fusion is not None else Mean()
        if self.fusion.per_modality_latents:
            raise ValueError(
                f"{type(self.fusion).__name__} keeps per-modality latents; MM-GPVAE needs a fusion "
                "into one shared posterior (Mean or ProductOfExperts)"
            )
        self._make_decoders(dict(embedding_dims or {}), dict(decoder_hidden or {}))
        weights = dict(modality_weights or {})
        self._check_keys("modality_weights", weights)
        for m, w in weights.items():
            if not float(w) >= 0:
                raise ValueError(f"modality_weights[{m!r}] must be >= 0, got {w}")
            self.modality_weights[m] = float(w)
        if guide_family is not None and not isinstance(guide_family, GuideFamily):
            raise TypeError(
                f"guide_family must be a GuideFamily, got {type(guide_family).__name__}"
            )
        self.guide_family = guide_family if guide_family is not None else MeanField()
        self.is_elbo = not any(p.needs_posteriors for p in self.groups().values())
        # True once the likelihoods were initialised from data (kept in checkpoints)
        self.register_buffer("intercepts_initialised", torch.tensor(not init_intercepts))

    # ------------------------------------------------------------------ construction helpers
    def _make_priors(
        self, shared: LatentPrior | None, private: dict[str, LatentPrior], lengthscale: float
    ) -> None:
        if self.shared_dim:
            prior = shared or default_gp_prior(self.shared_dim, lengthscale)
            # the shared slot's context holds every modality's posterior of the shared part
            check_slot(prior, "shared_prior", SEQUENCE, self.shared_dim, "MMGPVAE", posteriors=True)
            self.shared_prior = prior
        elif shared is not None:
            raise ValueError("shared_prior given but shared_dim=0")
        self._check_keys("private_priors", private)
        priors = {}
        for m in self.modalities:
            if self.private_dims[m] == 0:
                if m in private:
                    raise ValueError(f"private_priors[{m!r}] given but private_dims[{m!r}] = 0")
                continue
            p = private.get(m) or default_gp_prior(self.private_dims[m], lengthscale)
            check_slot(p, f"private_priors[{m!r}]", SEQUENCE, self.private_dims[m], "MMGPVAE")
            priors[m] = p
        self.private_priors = PyroModule[nn.ModuleDict](priors)

    def _make_encoders(
        self, encoders: dict[str, Encoder], hidden: Sequence[int]
    ) -> dict[str, Encoder]:
        self._check_keys("encoders", encoders)
        out = {}
        for m in self.modalities:
            need = self.shared_dim + self.private_dims[m]
            e = encoders.get(m) or StepMLPEncoder(
                self.likelihoods[m].num_features, need, hidden=hidden
            )
            if e.latent_dim != need:
                raise ValueError(
                    f"encoder of modality {m!r} has latent_dim={e.latent_dim}, but shared_dim + "
                    f"private_dims[{m!r}] = {self.shared_dim} + {self.private_dims[m]} = {need}"
                )
            out[m] = e
        return out

    def _make_decoders(
        self, embedding_dims: dict[str, int], decoder_hidden: dict[str, Sequence[int]]
    ) -> None:
        self._check_keys("embedding_dims", embedding_dims)
        self._check_keys("decoder_hidden", decoder_hidden)
        loadings, decoders = {}, {}
        for m in self.modalities:
            width = self.shared_dim + self.private_dims[m]
            if m in embedding_dims:
                if int(embedding_dims[m]) < 1:
                    raise ValueError(f"embedding_dims[{m!r}] must be >= 1, got {embedding_dims[m]}")
                loadings[m] = nn.Linear(width, int(embedding_dims[m]), bias=False)
                width = int(embedding_dims[m])
            lik = self.likelihoods[m]
            hidden = tuple(decoder_hidden.get(m, (128, 64) if lik.continuous else ()))
            decoders[m] = (
                MLPDecoder(width, lik, hidden=hidden) if hidden else LinearDecoder(width, lik)
            )
        self.loadings = nn.ModuleDict(loadings)
        self.decoders = nn.ModuleDict(decoders)

    def _check_keys(self, name: str, mapping: Mapping[str, Any], require_all: bool = False) -> None:
        unknown = [k for k in mapping if k not in self.likelihoods]
        if unknown:
            raise ValueError(
                f"{name} names unknown modalities {unknown}; modalities: {self.modalities}"
            )
        if require_all:
            missing = [m for m in self.modalities if m not in mapping]
            if missing:
                raise ValueError(f"{name} lacks modalities {missing}")

    # ------------------------------------------------------------------ pieces
    def groups(self) -> dict[str, LatentPrior]:
        """Latent group name (``"shared"``, ``"private_<m>"``) -> its prior."""
        out: dict[str, LatentPrior] = {}
        if self.shared_dim:
            out[SHARED] = self.shared_prior
        for m, p in self.private_priors.items():
            out[f"private_{m}"] = p
        return out

    def init_from_data(self, batch: MultimodalBatch) -> None:
        """Initialises every likelihood from the batch (once; see ``init_intercepts``)."""
        if bool(self.intercepts_initialised):
            return
        with torch.no_grad():
            for m in self.modalities:
                self.likelihoods[m].init_from_data(batch.obs[m], batch.mask[m])
            self.intercepts_initialised.fill_(True)

    def _check(self, batch: MultimodalBatch) -> None:
        # model and guide see the same batch object in one loss evaluation: validate it once
        if getattr(self, "_checked_batch", None) is batch:
            return
        self.check_batch(batch)
        if batch.num_steps is None or batch.num_steps < 2:
            raise ValueError(
                f"MM-GPVAE needs sequences of at least 2 steps, got num_steps={batch.num_steps}"
            )
        self._checked_batch = batch

    def _encode_steps(self, batch: MultimodalBatch) -> tuple[dict, dict, dict]:
        """Per-step encoder Gaussians, availability ``(B, T)`` and the shared parts' experts."""
        valid = batch.valid_steps()
        enc = {m: self.encoders[m](batch.obs[m], batch.mask[m]) for m in self.modalities}
        present = {m: batch.step_mask(m) & valid for m in self.modalities}
        ds = self.shared_dim
        experts = {m: dist.Normal(q.loc[..., :ds], q.scale[..., :ds]) for m, q in enc.items()}
        return enc, present, experts if ds else {}

    def context(
        self,
        batch: MultimodalBatch,
        posteriors: Mapping[str, dist.Normal] | None = None,
        present: Mapping[str, Tensor] | None = None,
    ) -> PriorContext:
        """The prior context of a batch (grid, lengths; the shared parts' posteriors if given)."""
        return PriorContext.of_batch(batch, posteriors=posteriors, present=present)

    def pseudo_observations(
        self, batch: MultimodalBatch
    ) -> tuple[PriorContext, dict[str, tuple[Tensor, Tensor, Tensor]]]:
        """The context and, per latent group, Gaussian pseudo-observations ``(loc, scale, w)``.

        ``loc``/``scale`` ``(B, T, D_group)``; ``w`` ``(B, T)`` is 0 at steps without data for the
        group (padding, missing modality), which GP posteriors ignore.
        """
        enc, present, experts = self._encode_steps(batch)
        out = {}
        ds = self.shared_dim
        if ds:
            any_present = torch.stack(list(present.values())).any(0)
            # steps where nothing is observed get weight 0; let the fusion see every expert there
            fuse_present = {m: p | ~any_present for m, p in present.items()}
            fused = self.fusion(experts, fuse_present)
            out[SHARED] = (fused.loc, fused.scale, any_present)
        for m in self.private_priors:
            q = enc[m]
            out[f"private_{m}"] = (q.loc[..., ds:], q.scale[..., ds:], present[m])
        return self.context(batch, experts, present), out

    def posteriors(self, batch: MultimodalBatch) -> dict[str, dist.Distribution]:
        """Element-wise variational posterior of every group over its prior's site, batch-first."""
        ctx, pseudo = self.pseudo_observations(batch)
        return {g: p.posterior(*pseudo[g][:2], ctx, pseudo[g][2]) for g, p in self.groups().items()}

    def variational(self, batch: MultimodalBatch) -> dict[str, dist.Distribution]:
        """Group -> q over its prior's site, batch ``(B,)``, from the guide family."""
        ctx, pseudo = self.pseudo_observations(batch)
        family = self.guide_family
        return {g: family(p, *pseudo[g][:2], ctx, pseudo[g][2]) for g, p in self.groups().items()}

    def _decode_params(self, latents: Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        params = {}
        for m in self.modalities:
            h = torch.cat([latents[g] for g in (SHARED, f"private_{m}") if g in latents], -1)
            params[m] = self.decoders[m](self.loadings[m](h) if m in self.loadings else h)
        return params

    # ------------------------------------------------------------------ model / guide
    def model(self, batch: MultimodalBatch, **scheduled: Any) -> dict[str, Tensor]:
        """p(x, z): group priors (sequence slots), loadings, decoders, weighted masked likelihoods.

        MM-GPVAE takes no scheduled values: any (a ``fit.schedules`` entry) is a TypeError.
        Returns the latents.
        """
        _refuse_scheduled(scheduled)
        self._check(batch)
        if not bool(self.intercepts_initialised):
            # until the training loop calls init_from_data, the first model call does
            self.init_from_data(batch)
        experts = present = None
        if not self.is_elbo:  # a data-dependent shared prior (MMVM mixture) reads them
            _, present, experts = self._encode_steps(batch)
        ctx = self.context(batch, experts, present)
        with self.plate(batch):
            latents = {
                name: poutine.infer_config(prior, config_fn=_term_of(name))(ctx)
                for name, prior in self.groups().items()
            }
            params = self._decode_params(latents)
            self.observe(batch, params, step_mask=batch.valid_steps())
        return latents

    def guide(self, batch: MultimodalBatch, **scheduled: Any) -> None:
        """q(z | x): per-modality encoders, fused shared part, the guide family per group."""
        _refuse_scheduled(scheduled)
        self._check(batch)
        qs = self.variational(batch)
        with self.plate(batch):
            for name, prior in self.groups().items():
                pyro.sample(prior.site_name, qs[name], infer={TERM_KEY: f"kl.{name}"})

    # ------------------------------------------------------------------ outputs
    @torch.no_grad()
    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Posterior means in the time domain.

        Returns:
            ``latent`` ``(B, T, D_S + sum_m D_m)`` (shared first, then private in modality
            order), ``shared`` ``(B, T, D_S)`` and ``private_<m>`` ``(B, T, D_m)``.
        """
        self._check(batch)
        ctx = self.context(batch)
        qs = self.variational(batch)
        out = {name: prior.to_latent(qs[name].mean, ctx) for name, prior in self.groups().items()}
        out["latent"] = torch.cat(list(out.values()), -1)
        return out

    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality from latents.

        Args:
            latent: a dict of groups (as :meth:`encode` returns) or the concatenated ``latent``
                ``(..., D_S + sum_m D_m)``.
        """
        if isinstance(latent, Tensor):
            sizes = {g: p.latent_dim for g, p in self.groups().items()}
            if latent.shape[-1] != sum(sizes.values()):
                raise ValueError(
                    f"latent has {latent.shape[-1]} dims, expected {sum(sizes.values())} "
                    f"(groups {sizes})"
                )
            latent = dict(zip(sizes, latent.split(list(sizes.values()), -1)))
        return self._decode_params(latent)


def _term_of(group: str):
    """``infer_config`` function naming a group's terms (``kl.<group>``, ``hyperprior``)."""

    def config(msg: dict) -> dict[str, str]:
        return {TERM_KEY: "hyperprior" if site_is_factor(msg) else f"kl.{group}"}

    return config


__all__ = ["MMGPVAE", "default_gp_prior"]

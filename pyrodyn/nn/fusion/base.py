"""The `Fusion` extension point: how per-modality posteriors become latent sites."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyro.distributions as dist
import torch
from torch import Tensor, nn

from pyrodyn.distributions.diag_normal_mixture import standard_normal_where_absent

if TYPE_CHECKING:
    from pyrodyn.priors.base import LatentPrior

SHARED = "shared"


def broadcast_present(present: Tensor, like: Tensor) -> Tensor:
    """``present`` ``(B,)`` or ``(B, T)`` -> broadcastable against ``like`` ``(B, [T,] D)``."""
    p = present.to(like.device)
    while p.dim() < like.dim():
        p = p.unsqueeze(-1)
    return p


def stack_experts(
    posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
) -> tuple[Tensor, Tensor, Tensor]:
    """Stacks experts on a new dim: locs/scales ``(B, [T,] M, D)``, present ``(B, [T,] M)``.

    A missing expert's entries are N(0, 1) placeholders
    (:func:`~pyrodyn.distributions.diag_normal_mixture.standard_normal_where_absent`).
    """
    locs = torch.stack([q.loc for q in posteriors.values()], -2)
    scales = torch.stack([q.scale for q in posteriors.values()], -2)
    pres = torch.stack(
        [present[m].to(locs.device).bool().expand(locs.shape[:-2]) for m in posteriors], -1
    )
    return (*standard_normal_where_absent(locs, scales, pres), pres)


def standard_normal_like(loc: Tensor) -> dist.Normal:
    """N(0, I) with the element-wise shape of ``loc``."""
    return dist.Normal(torch.zeros_like(loc), torch.ones_like(loc))


class Fusion(nn.Module):
    """Combines per-modality diagonal-Gaussian posteriors; subclasses implement :meth:`forward`.

    A fusion decides (a) which latent sites the guide samples (:meth:`guide_distributions`: one
    ``"shared"`` site, or one site per modality when :attr:`per_modality_latents`), (b) the prior
    or regulariser of those sites in the model (:meth:`prior_distributions`,
    :meth:`regularizer`), (c) which latent each decoder reads (:meth:`decoder_input`) and (d) the
    posterior from any subset of available modalities (:meth:`posterior`), used for imputation
    and as a teacher signal. A missing modality contributes no expert, no mixture component and
    (in the composed model) no likelihood term.

    Shapes: unimodal posteriors are element-wise ``Normal`` with batch shape ``(B, [T,] D)``;
    ``present[m]`` is ``(B,)`` or ``(B, T)`` bool. :meth:`forward` and :meth:`posterior` return an
    element-wise ``Normal`` ``(B, [T,] D)`` (for mixture fusions, the Gaussian with the mixture's
    mean and variance, exact when one modality is available).
    :meth:`guide_distributions` and :meth:`prior_distributions` return distributions with batch
    shape ``(B, [T])`` and event shape ``(D,)`` (a mixture cannot be element-wise).

    Every static row needs at least one available modality (ValueError otherwise). For
    sequences, every sequence needs one observed step; a step without any modality (padding, a
    gap) falls back to the N(0, I) posterior.
    """

    #: True when every modality keeps its own latent (independent, MMVM).
    per_modality_latents: bool = False
    #: Whether the variational family over the shared latent is a mixture (MoE, MoPoE).
    mixture_posterior: bool = False

    @abstractmethod
    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """The fused posterior over the shared latent from the available modalities."""

    # ------------------------------------------------------------------ validation
    def check(self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]) -> None:
        """Validates inputs: equal latent sizes, and at least one modality present per row."""
        if not posteriors:
            raise ValueError("fusion needs at least one modality posterior, got none")
        missing = [m for m in posteriors if m not in present]
        if missing:
            raise ValueError(f"no availability mask for modalities {missing}")
        sizes = {m: q.loc.shape[-1] for m, q in posteriors.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"{type(self).__name__} needs encoders with equal latent sizes, got {sizes}"
            )
        shapes = {m: tuple(q.loc.shape[:-1]) for m, q in posteriors.items()}
        if len(set(shapes.values())) > 1:
            raise ValueError(f"posteriors have different batch shapes {shapes}")
        lead = next(iter(shapes.values()))
        for m in posteriors:
            shape = tuple(present[m].shape)
            # leading sample dims of the posteriors (vectorised particles) broadcast over present
            if len(shape) > len(lead) or lead[len(lead) - len(shape) :] != shape:
                raise ValueError(
                    f"present[{m!r}] has shape {shape}, expected {lead} "
                    "(the posterior's batch shape without the latent dim)"
                )
        any_present = self.any_present(present, list(posteriors))
        rows = any_present.reshape(any_present.shape[0], -1).any(-1)
        if not bool(rows.all()):
            bad = (~rows).nonzero().flatten()[:5].tolist()
            raise ValueError(
                f"every modality is missing in rows {bad} (first five); a fused posterior "
                "needs at least one available modality"
            )

    @staticmethod
    def any_present(present: Mapping[str, Tensor], modalities: list[str] | None = None) -> Tensor:
        """Whether any modality is available: ``(B,)`` or ``(B, T)`` bool."""
        mods = list(present) if modalities is None else modalities
        return torch.stack([present[m].bool() for m in mods]).any(0)

    # ------------------------------------------------------------------ sites
    def default_prior(self, latent_dim: int) -> LatentPrior:
        """The prior of every latent site when the model is given none: N(0, I)."""
        from pyrodyn.priors.normal import StandardNormalPrior

        return StandardNormalPrior(latent_dim)

    def site_keys(self, modalities: list[str]) -> list[str]:
        """Latent site keys: the modality names (per-modality latents) or ``["shared"]``."""
        return list(modalities) if self.per_modality_latents else [SHARED]

    def site_present(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """Site key -> ``(B, [T])`` bool where the site is informed by data (regularised)."""
        if self.per_modality_latents:
            return {m: present[m].bool() for m in posteriors}
        return {SHARED: self.any_present(present, list(posteriors))}

    def guide_distributions(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dict[str, dist.Distribution]:
        """Site key -> variational distribution, batch ``(B, [T])``, event ``(D,)``."""
        return {SHARED: self(posteriors, present).to_event(1)}

    def prior_distributions(
        self,
        posteriors: Mapping[str, dist.Normal],
        present: Mapping[str, Tensor],
        prior: dist.Distribution | None = None,
        **options: Any,
    ) -> dict[str, dist.Distribution]:
        """Site key -> prior used in the model, batch ``(B, [T])``, event ``(D,)``.

        Args:
            posteriors: unimodal posteriors (data-dependent priors such as MMVM use them).
            present: availability masks.
            prior: the model's base prior (default N(0, I)), used for every site.
            options: scheduled values (e.g. MMVM's ``alpha``); fusions ignore unknown ones.
        """
        if prior is None:
            first = next(iter(posteriors.values()))
            prior = standard_normal_like(first.loc).to_event(1)
        return {k: prior for k in self.site_keys(list(posteriors))}

    def regularizer(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor], **options: Any
    ) -> Tensor | None:
        """Extra coupling penalty per row ``(B, [T])`` (None when the fusion has none)."""
        return None

    def decoder_input(self, modality: str, latents: Mapping[str, Tensor]) -> Tensor:
        """The latent that decoder ``modality`` reads."""
        return latents[modality] if self.per_modality_latents else latents[SHARED]

    def posterior(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """Posterior from the available modalities (imputation, teacher signal)."""
        return self(posteriors, present)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def fallback(fused: dist.Normal, none_present: Tensor) -> dist.Normal:
        """Replaces steps where no modality is available (``(B, [T])`` True) by N(0, I)."""
        if not bool(none_present.any()):
            return fused
        p = broadcast_present(none_present, fused.loc)
        loc = torch.where(p, torch.zeros_like(fused.loc), fused.loc)
        scale = torch.where(p, torch.ones_like(fused.scale), fused.scale)
        return dist.Normal(loc, scale)

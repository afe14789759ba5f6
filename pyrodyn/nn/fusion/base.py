"""The `Fusion` extension point: how per-modality posteriors become latent sites."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping

import pyro.distributions as dist
import torch
from torch import Tensor, nn

SHARED = "shared"


def broadcast_present(present: Tensor, like: Tensor) -> Tensor:
    """``present`` ``(B,)`` or ``(B, T)`` -> broadcastable against ``like`` ``(B, [T,] D)``."""
    p = present.to(like.device)
    while p.dim() < like.dim():
        p = p.unsqueeze(-1)
    return p


class Fusion(nn.Module):
    """Combines per-modality diagonal-Gaussian posteriors; subclasses implement :meth:`forward`.

    A fusion decides (a) which latent sites the guide samples (:meth:`guide_distributions`: one
    ``"shared"`` site, or one site per modality when :attr:`per_modality_latents`), (b) the prior
    or regulariser of those sites in the model (:meth:`prior_distributions`,
    :meth:`regularizer`), (c) which latent each decoder reads (:meth:`decoder_input`) and (d) the
    posterior from any subset of available modalities (:meth:`posterior`), used for imputation
    and as a teacher signal. A missing modality contributes no expert.

    Posteriors have batch shape ``(B, [T,] D)``; ``present[m]`` is ``(B,)`` or ``(B, T)`` bool.
    """

    #: True when every modality keeps its own latent (independent, MMVM).
    per_modality_latents: bool = False

    @abstractmethod
    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """The fused posterior over the shared latent from the available modalities."""

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
        any_present = torch.stack([present[m].bool() for m in posteriors]).any(0)
        if not bool(any_present.all()):
            rows = (~any_present).nonzero()[:5].tolist()
            raise ValueError(
                f"every modality is missing in some rows (first: {rows}); a fused posterior "
                "needs at least one available modality"
            )

    def guide_distributions(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dict[str, dist.Distribution]:
        """Site key -> variational distribution (element-wise batch ``(B, [T,] D)``)."""
        return {SHARED: self(posteriors, present)}

    def prior_distributions(
        self,
        posteriors: Mapping[str, dist.Normal],
        present: Mapping[str, Tensor],
        prior: dist.Distribution,
    ) -> dict[str, dist.Distribution]:
        """Site key -> prior used in the model (``prior`` is the model's base prior)."""
        return {SHARED: prior}

    def regularizer(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
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

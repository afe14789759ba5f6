"""BPTT-TF baseline: sparse teacher forcing on the observations themselves (specs/mtf.md 3.3).

The "BPTT-based" baseline of Brenner et al. (ICML 2024), reached in the reference code with
``--enc_model Identity``: the teacher signal is the observation itself (an identity encoder, so
K = N observed channels), the first N latent units are read out by an identity decoder, and the
model is trained by BPTT through the sparsely forced rollout on the likelihood of its predictions
only (Mikhaeil et al., NeurIPS 2022).

It is :class:`~pyrodyn.models.mtf.MTF`'s model/guide pair with an identity encoder and decoder
and the encoder mean as teacher (the guide's ``latent`` site is a point mass at the
observations); its objective :class:`BPTTTFObjective` is MTF's with the reconstruction, latent
consistency and entropy weights and the input noise at 0, so the loss is the forced-rollout
likelihood factor ``obs.<modality>`` alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import pyro.distributions as dist
import torch
from torch import Tensor, nn

from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.mtf import MTF, MTFObjective
from pyrodyn.models.mtf.objective import DEFAULTS
from pyrodyn.nn.decoders import Decoder
from pyrodyn.nn.encoders.base import Encoder


class IdentityEncoder(Encoder):
    """The observation as a (near-)deterministic posterior: ``N(x, scale²)``.

    Args:
        latent_dim: N, the number of observed channels.
        scale: the posterior scale (tiny; only used where a sample is requested).
    """

    def __init__(self, latent_dim: int, scale: float = 1e-6) -> None:
        super().__init__(latent_dim)
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = float(scale)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dist.Normal:
        """``x`` ``(B, T, N)`` -> ``Normal`` with batch ``(B, T, N)``."""
        if x.shape[-1] != self.latent_dim:
            raise ValueError(
                f"IdentityEncoder expects {self.latent_dim} channels, got {tuple(x.shape)}"
            )
        return dist.Normal(x, torch.full_like(x, self.scale))


class IdentityDecoder(Decoder):
    """``loc = z_{1:N}``: reads the observation straight off the first latent units.

    Args:
        latent_dim: N.
        likelihood: a likelihood with N features whose only decoder output is ``loc``.
    """

    def __init__(self, latent_dim: int, likelihood: Likelihood) -> None:
        nn.Module.__init__(self)
        self.latent_dim = int(latent_dim)
        self.shapes = {"loc": likelihood.feature_shape}

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        """``(..., N)`` -> ``{"loc": (..., N)}``."""
        return {"loc": z.reshape(*z.shape[:-1], *self.shapes["loc"])}


class BPTTTFObjective(MTFObjective):
    """MTF's objective with BPTT-TF's recipe: only the forced-rollout likelihood ``obs.<m>``.

    Defaults ``rec_weight = lat_weight = entropy_weight = 0`` and ``input_noise = 0`` (the
    options of :class:`~pyrodyn.models.mtf.MTFObjective`, all of them still settable).
    """

    legacy_model_keys: ClassVar[frozenset[str]] = frozenset()
    defaults: ClassVar[Mapping[str, float]] = {
        **DEFAULTS,
        "rec_weight": 0.0,
        "lat_weight": 0.0,
        "entropy_weight": 0.0,
        "input_noise": 0.0,
    }


class BPTTTF(MTF):
    """Sparse teacher forcing with an identity observation model (BPTT-TF baseline).

    Args:
        likelihoods: exactly one continuous modality whose only decoder output is ``loc``
            (Gaussian with a likelihood-level scale, Laplace); its channels are the forced units.
        dynamics: latent map with ``M >= N`` units.
        tau: forcing interval.
        parallel_rollout: window-parallel rollout on/off (None: when ``M == N``).
    """

    default_objective = BPTTTFObjective

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        dynamics: DynamicsModel,
        *,
        tau: int = 10,
        parallel_rollout: bool | None = None,
    ) -> None:
        liks = list(likelihoods.values())
        if len(liks) != 1 or not (liks[0].continuous and set(liks[0].param_shapes) == {"loc"}):
            raise ValueError(
                "BPTTTF takes exactly one continuous modality read off by its location (e.g. "
                "Gaussian; its observations are the teacher signal); got "
                f"{[type(v).__name__ for v in liks]}"
            )
        mod, lik = next(iter(likelihoods.items()))
        n = lik.num_features
        super().__init__(
            likelihoods,
            dynamics,
            n,
            tau=tau,
            encoder=IdentityEncoder(n),
            decoders={mod: IdentityDecoder(n, lik)},
            sample_latent=False,
            parallel_rollout=parallel_rollout,
        )


__all__ = ["BPTTTF", "BPTTTFObjective", "IdentityDecoder", "IdentityEncoder"]

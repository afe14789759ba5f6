"""A linear-Gaussian `GenerativeModel` whose posterior and marginal likelihood are known exactly.

``z_{b,t} ~ N(0, I_D)`` independently, ``x_{b,t} ~ N(W z_{b,t} + c, sigma^2 I_F)``. The exact
posterior of each step is ``N(Sigma W^T (x - c) / sigma^2, Sigma)`` with
``Sigma = (I + W^T W / sigma^2)^{-1}`` (entries of ``x`` that are missing drop out of ``W^T W``),
and ``x_{b,t} ~ N(c, W W^T + sigma^2 I)`` marginally. The guide is that exact posterior with its
standard deviation multiplied by ``guide_scale`` and its mean shifted by ``guide_shift``, so
tests of importance-sampling diagnostics can dial in a known misspecification.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel


class KnownNoiseGaussian(Likelihood):
    """``N(loc, sigma^2)`` element-wise with a fixed, known ``sigma`` (decoder gives ``loc``)."""

    def __init__(self, feature_shape: int | tuple[int, ...], noise: float = 1.0) -> None:
        super().__init__(feature_shape)
        if noise <= 0:
            raise ValueError(f"noise must be positive, got {noise}")
        self.noise = float(noise)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The decoder produces the mean only."""
        return {"loc": self.feature_shape}

    def distribution(self, params: Mapping[str, Tensor]) -> dist.TorchDistribution:
        """Element-wise Normal ``(*batch, *feature_shape)``."""
        return dist.Normal(params["loc"], self.noise)


class LinearGaussianModel(GenerativeModel):
    """Linear-Gaussian state-free model with an exact (optionally distorted) guide.

    Args:
        weight: ``(F, D)`` loading matrix W.
        offset: ``(F,)`` offset c (default 0).
        noise: observation noise sigma.
        guide_scale: multiplies the exact posterior standard deviation in the guide.
        guide_shift: added to the exact posterior mean in the guide.
        diagonal: guide with the exact posterior's marginal standard deviations only (a
            mean-field ``Normal``; exact when the columns of W are orthogonal or D = 1).
        modality: name of the single modality.
    """

    def __init__(
        self,
        weight: Tensor,
        offset: Tensor | None = None,
        noise: float = 0.5,
        guide_scale: float = 1.0,
        guide_shift: float = 0.0,
        diagonal: bool = False,
        modality: str = "x",
    ) -> None:
        f, d = weight.shape
        super().__init__({modality: KnownNoiseGaussian(f, noise)})
        self.modality = modality
        self.noise = float(noise)
        self.latent_dim = int(d)
        self.register_buffer("weight", weight.clone())
        self.register_buffer("offset", weight.new_zeros(f) if offset is None else offset.clone())
        self.guide_scale = float(guide_scale)
        self.guide_shift = float(guide_shift)
        self.diagonal = bool(diagonal)

    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """``(..., D)`` -> ``{modality: {"loc": (..., F)}}``."""
        z = latent["latent"] if isinstance(latent, Mapping) else latent
        return {self.modality: {"loc": z @ self.weight.T + self.offset}}

    def model(self, batch: MultimodalBatch, **scheduled: Any) -> None:
        """``z ~ N(0, I)`` per step; ``x ~ N(W z + c, sigma^2)``."""
        b, t = batch.num_sequences, batch.num_steps
        with self.plate(batch):
            loc = self.weight.new_zeros(b, t, self.latent_dim)
            z = pyro.sample("z", dist.Normal(loc, 1.0).to_event(2))
            self.observe(batch, self.decode(z))

    def posterior(self, batch: MultimodalBatch) -> tuple[Tensor, Tensor]:
        """Exact posterior mean ``(B, T, D)`` and covariance ``(B, T, D, D)`` per step."""
        m = batch.mask[self.modality].to(self.weight.dtype)
        x = batch.obs[self.modality] - self.offset
        w = self.weight
        prec = torch.eye(self.latent_dim, dtype=w.dtype, device=w.device) + torch.einsum(
            "fd,btf,fe->btde", w, m, w
        ) / (self.noise**2)
        cov = torch.linalg.inv(prec)
        mean = torch.einsum("btde,fe,btf->btd", cov, w, m * x) / (self.noise**2)
        return mean, cov

    def guide(self, batch: MultimodalBatch, **scheduled: Any) -> None:
        """The exact posterior, widened by ``guide_scale`` and shifted by ``guide_shift``."""
        mean, cov = self.posterior(batch)
        loc = mean + self.guide_shift
        if self.diagonal:
            sd = cov.diagonal(dim1=-2, dim2=-1).sqrt() * self.guide_scale
            q = dist.Normal(loc, sd).to_event(2)
        else:
            tril = torch.linalg.cholesky(cov) * self.guide_scale
            q = dist.MultivariateNormal(loc, scale_tril=tril).to_event(1)
        with self.plate(batch):
            pyro.sample("z", q)

    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Exact posterior means ``{"latent": (B, T, D)}``."""
        return {"latent": self.posterior(batch)[0]}

    def log_marginal(self, batch: MultimodalBatch) -> Tensor:
        """Exact ``log p(x)`` per trial ``(B,)`` (all entries observed)."""
        if not bool(batch.mask[self.modality].all()):
            raise ValueError(
                "log_marginal needs fully observed data; the batch has missing entries"
            )
        f = self.weight.shape[0]
        eye = torch.eye(f, dtype=self.weight.dtype, device=self.weight.device)
        cov = self.weight @ self.weight.T + self.noise**2 * eye
        d = dist.MultivariateNormal(self.offset, covariance_matrix=cov)
        return d.log_prob(batch.obs[self.modality]).sum(-1)

    @torch.no_grad()
    def simulate(self, num_trials: int, num_steps: int) -> MultimodalBatch:
        """Data drawn from the model: a batch ``(num_trials, num_steps, F)`` with true latents."""
        z = torch.randn(num_trials, num_steps, self.latent_dim, dtype=self.weight.dtype)
        loc = self.decode(z)[self.modality]["loc"]
        x = loc + self.noise * torch.randn_like(loc)
        return MultimodalBatch.from_tensors({self.modality: x}, extras={"true_latent": z})

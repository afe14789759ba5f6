"""Ornstein–Uhlenbeck (continuous-time AR(1)) prior over latent trajectories.

Each latent dimension ``d`` is a stationary Ornstein–Uhlenbeck process with time scale ``tau_d``
and stationary standard deviation ``s_d``, observed at the batch's time stamps. Between stamps
``dt`` apart the exact transition is AR(1) (Uhlenbeck and Ornstein, "On the theory of the
Brownian motion", Phys. Rev. 1930)::

    z_1 ~ N(0, s^2),   z_{t+1} | z_t ~ N(phi_t z_t, s^2 (1 - phi_t^2)),   phi_t = exp(-dt_t / tau)

so irregular sampling is handled exactly, and on a regular grid it is an AR(1) with coefficient
``phi = exp(-dt / tau)``. The GP view: a GP with the Matérn-1/2 kernel ``s^2 exp(-|t - t'| / tau)``,
scored here in O(T) by its Markov factorisation instead of O(T^3).
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroParam
from torch import Tensor

from pyrodyn.priors.base import ExpandableOverSamples, LatentPrior, PriorContext


class StationaryAR1(ExpandableOverSamples, dist.TorchDistribution):
    """Stationary Gaussian AR(1) trajectories with per-step coefficients.

    Batch shape ``(B,)``, event shape ``(T, D)``.

    Args:
        phi: ``(B, T - 1, D)`` (or broadcastable) coefficient of each transition, in ``[0, 1)``.
        scale: ``(D,)`` stationary standard deviation.
        batch_size: B.
        num_steps: T.
        step_mask: ``(B, T)`` bool of steps inside each sequence, or None.
    """

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(
        self,
        phi: Tensor,
        scale: Tensor,
        batch_size: int,
        num_steps: int,
        step_mask: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self.phi, self.scale, self.step_mask = phi, scale, step_mask
        self.num_steps = int(num_steps)
        d = scale.shape[-1]
        super().__init__(torch.Size([batch_size]), torch.Size([num_steps, d]), validate_args)

    def _innovation_scale(self) -> Tensor:
        return self.scale * (1.0 - self.phi**2).clamp_min(1e-12).sqrt()

    def log_prob(self, value: Tensor) -> Tensor:
        """``(..., B, T, D) -> (..., B)``; steps at or beyond each length are excluded."""
        lp = dist.Normal(0.0, self.scale).log_prob(value[..., 0, :]).sum(-1)
        if self.num_steps > 1:
            mean = self.phi * value[..., :-1, :]
            trans = dist.Normal(mean, self._innovation_scale()).log_prob(value[..., 1:, :]).sum(-1)
            if self.step_mask is not None:
                trans = trans * self.step_mask[:, 1:].to(trans.dtype)
            lp = lp + trans.sum(-1)
        return lp

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Ancestral sampling ``(*sample_shape, B, T, D)``."""
        shape = torch.Size(sample_shape) + self.batch_shape + self.event_shape
        eps = torch.randn(shape, dtype=self.scale.dtype, device=self.scale.device)
        phi = self.phi.expand(*self.batch_shape, self.num_steps - 1, shape[-1])
        innov = self._innovation_scale().expand_as(phi)
        z = self.scale * eps[..., 0, :]
        out = [z]
        for t in range(1, self.num_steps):
            z = phi[..., t - 1, :] * z + innov[..., t - 1, :] * eps[..., t, :]
            out.append(z)
        return torch.stack(out, dim=-2)


class OrnsteinUhlenbeckPrior(LatentPrior):
    """Independent stationary OU processes, one per latent dimension (learned time scales).

    Args:
        latent_dim: D.
        timescale: initial time scale tau (in the units of the time stamps), positive.
        scale: initial stationary standard deviation s, positive.
    """

    def __init__(self, latent_dim: int, timescale: float = 10.0, scale: float = 1.0) -> None:
        super().__init__(latent_dim)
        if timescale <= 0 or scale <= 0:
            raise ValueError(f"timescale and scale must be positive, got {timescale}, {scale}")
        self.timescale = PyroParam(
            torch.full((self.latent_dim,), float(timescale)), constraints.positive
        )
        self.scale = PyroParam(torch.full((self.latent_dim,), float(scale)), constraints.positive)

    def coefficients(self, ctx: PriorContext) -> Tensor:
        """AR(1) coefficients ``exp(-dt / tau)``.

        Returns:
            ``(B, T - 1, D)``, or ``(1, T - 1, D)`` without time stamps (unit steps).
        """
        t = ctx.num_steps
        tau = self.timescale
        if ctx.times is not None and t > 1:
            times = ctx.times.to(tau.dtype)
            dt = (times[..., 1:] - times[..., :-1]).clamp_min(0.0)
            if dt.dim() == 1:
                dt = dt[None]
            return torch.exp(-dt[..., None] / tau)
        return torch.exp(-tau.new_ones(1, max(t - 1, 0), 1) / tau)

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """A `StationaryAR1` with batch ``(B,)`` and event ``(T, D)``."""
        if ctx.num_steps is None:
            raise ValueError("OrnsteinUhlenbeckPrior needs sequences (num_steps), not static data")
        return StationaryAR1(
            self.coefficients(ctx),
            self.scale,
            ctx.num_sequences,
            ctx.num_steps,
            step_mask=ctx.step_mask(),
        )

"""Prior induced by a `DynamicsModel`: z_1 ~ N(0, s0^2 I), z_{t+1} ~ N(F(z_t, u_t), sigma^2 I)."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroParam
from torch import Tensor

from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.priors.base import ExpandableOverSamples, LatentPrior, PriorContext


class MarkovTrajectory(ExpandableOverSamples, dist.TorchDistribution):
    """Gaussian Markov chain over a whole trajectory, scored in one vectorised call.

    ``log_prob(z) = log N(z_1; 0, s0^2) + sum_t log N(z_{t+1}; F(z_t, u_t), sigma^2)``, with
    steps at or beyond each sequence's length excluded.

    Args:
        dynamics: the transition map F.
        init_scale: s0, scalar or ``(M,)``.
        noise_scale: sigma, scalar or ``(M,)``.
        batch_size: B.
        num_steps: T.
        inputs: ``(B, T, S)`` or None (``inputs[:, t]`` drives the step to ``z_{t+1}``).
        step_mask: ``(B, T)`` bool of valid steps, or None.
    """

    arg_constraints = {}  # the dynamics map is not a tensor parameter
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        dynamics: DynamicsModel,
        init_scale: Tensor,
        noise_scale: Tensor,
        batch_size: int,
        num_steps: int,
        inputs: Tensor | None = None,
        step_mask: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self.dynamics, self.init_scale, self.noise_scale = dynamics, init_scale, noise_scale
        self.inputs, self.step_mask = inputs, step_mask
        self.num_steps = num_steps
        m = dynamics.latent_dim
        super().__init__(torch.Size([batch_size]), torch.Size([num_steps, m]), validate_args)

    def log_prob(self, value: Tensor) -> Tensor:
        """``(..., B, T, M) -> (..., B)``."""
        z0 = value[..., 0, :]
        lp = dist.Normal(torch.zeros_like(z0), self.init_scale).log_prob(z0).sum(-1)
        if self.num_steps > 1:
            u = None if self.inputs is None else self.inputs[:, :-1]
            pred = self.dynamics.step(value[..., :-1, :], u)
            trans = dist.Normal(pred, self.noise_scale).log_prob(value[..., 1:, :]).sum(-1)
            if self.step_mask is not None:
                trans = trans * self.step_mask[:, 1:].to(trans.dtype)
            lp = lp + trans.sum(-1)
        return lp

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Ancestral sampling ``(*sample_shape, B, T, M)``."""
        shape = torch.Size(sample_shape) + self.batch_shape
        m = self.dynamics.latent_dim
        scale = torch.as_tensor(self.init_scale)
        z = scale.new_zeros(()).expand(*shape, m) + scale * torch.randn(
            *shape, m, device=scale.device, dtype=scale.dtype
        )
        out = [z]
        for t in range(1, self.num_steps):
            u = None if self.inputs is None else self.inputs[:, t - 1]
            z = self.dynamics.step(z, u)
            z = z + self.noise_scale * torch.randn_like(z)
            out.append(z)
        return torch.stack(out, dim=-2)


class DynamicalPrior(LatentPrior):
    """Latent trajectory prior induced by a dynamics model (the SVAE prior).

    Args:
        dynamics: any discrete-time `DynamicsModel` (``step``).
        init_scale: initial scale s0 (learned, positive).
        noise_scale: transition noise sigma (learned, positive, one per latent dimension).
    """

    def __init__(
        self, dynamics: DynamicsModel, init_scale: float = 1.0, noise_scale: float = 0.1
    ) -> None:
        super().__init__(dynamics.latent_dim)
        if init_scale <= 0 or noise_scale <= 0:
            raise ValueError(
                f"init_scale and noise_scale must be positive, got {init_scale}, {noise_scale}"
            )
        self.dynamics = dynamics
        self.init_scale = PyroParam(torch.tensor(float(init_scale)), constraints.positive)
        self.noise_scale = PyroParam(
            torch.full((dynamics.latent_dim,), float(noise_scale)), constraints.positive
        )

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """A `MarkovTrajectory` with batch ``(B,)`` and event ``(T, M)``."""
        if ctx.num_steps is None:
            raise ValueError("DynamicalPrior needs sequences (num_steps), not static latents")
        return MarkovTrajectory(
            self.dynamics,
            self.init_scale,
            self.noise_scale,
            ctx.num_sequences,
            ctx.num_steps,
            inputs=ctx.inputs,
            step_mask=ctx.step_mask(),
        )

    def continuation(self, prefix: Tensor, ctx: PriorContext) -> Tensor:
        """``z_{t+1} = F(z_t, u_t) + sigma * eps`` from the last step of ``prefix``.

        Args:
            prefix: ``(..., B, n, M)`` the first ``n`` steps.
            ctx: the context of all ``T > n`` steps (its inputs drive the steps).

        Returns:
            ``(..., B, T - n, M)``.
        """
        n, total = prefix.shape[-2], ctx.num_steps
        if total is None or not 1 <= n < total:
            raise ValueError(
                f"a continuation needs 1 <= n < T prefix steps, got n = {n} and T = {total}"
            )
        z, out = prefix[..., -1, :], []
        for t in range(n, total):
            # inputs[:, t - 1] drives the step to z_t, as in MarkovTrajectory
            u = None if ctx.inputs is None else ctx.inputs[:, t - 1]
            z = self.dynamics.step(z, u)
            z = z + self.noise_scale * torch.randn_like(z)
            out.append(z)
        return torch.stack(out, dim=-2)

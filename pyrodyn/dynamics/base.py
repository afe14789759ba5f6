"""The `DynamicsModel` extension point: a latent transition map or a query-time path."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def check_increment_factor(factor: float) -> float:
    """``factor`` as a float; raises ``ValueError`` unless it is positive and finite."""
    f = float(factor)
    if not (math.isfinite(f) and f > 0):
        raise ValueError(f"the increment factor must be positive and finite, got {factor!r}")
    return f


class DynamicsModel(nn.Module):
    """Latent dynamics; subclasses implement :meth:`step` (discrete time) or :meth:`path`.

    Discrete-time models implement ``step(z, u)`` and inherit :meth:`rollout`, :meth:`path` and
    :meth:`jacobian` (autograd; override with a closed form where cheap). Models that map an
    initial code and query times straight to states (LaDID) override :meth:`path`.

    Args:
        latent_dim: M, the state dimension.
        input_dim: S, the dimension of external inputs (0 for none).
    """

    def __init__(self, latent_dim: int, input_dim: int = 0) -> None:
        super().__init__()
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        if int(input_dim) < 0:
            raise ValueError(f"input_dim must be >= 0, got {input_dim}")
        self.latent_dim = int(latent_dim)
        self.input_dim = int(input_dim)

    def step(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """One transition ``(..., M) -> (..., M)`` with optional inputs ``(..., S)``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement step(z, u) (discrete time) or override path()"
        )

    def scale_increment(self, factor: float) -> None:
        """Rescales the step's increment in place: ``F(z, u) <- z + factor (F(z, u) - z)``.

        For a map that is an Euler-like discretisation of a flow, this speeds the flow up
        (``factor > 1``) or slows it down; :class:`~pyrodyn.infer.calibration.TimeScaleCalibration`
        fits the factor to a recording. Models whose ``step`` is affine in its last layer fold the
        factor into their parameters, so the model keeps its type and checkpoint format.

        Raises:
            ValueError: ``factor`` is not a positive finite number.
            NotImplementedError: the model cannot fold the factor (the default).
        """
        check_increment_factor(factor)
        raise NotImplementedError(
            f"{type(self).__name__} cannot rescale its increment (scale_increment is not "
            "implemented for it)"
        )

    def _check_state(self, z: Tensor) -> None:
        if z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"{type(self).__name__} expects states with last dim {self.latent_dim}, got shape "
                f"{tuple(z.shape)}"
            )

    def rollout(self, init: Tensor, num_steps: int, inputs: Tensor | None = None) -> Tensor:
        """Free-running states ``z_1 .. z_n`` from ``z_0 = init``.

        Args:
            init: ``(..., M)``.
            num_steps: n >= 0.
            inputs: ``(..., n, S)``, the input entering step k at ``inputs[..., k - 1, :]``.

        Returns:
            ``(..., n, M)``.
        """
        self._check_state(init)
        if num_steps < 0:
            raise ValueError(f"num_steps must be >= 0, got {num_steps}")
        if self.input_dim and inputs is None:
            raise ValueError(f"{type(self).__name__} has input_dim {self.input_dim}; pass inputs")
        z, out = init, []
        for k in range(num_steps):
            z = self.step(z, None if inputs is None else inputs[..., k, :])
            out.append(z)
        if not out:
            return init.new_zeros((*init.shape[:-1], 0, self.latent_dim))
        return torch.stack(out, dim=-2)

    def path(self, init: Tensor, times: Tensor | int, inputs: Tensor | None = None) -> Tensor:
        """States at query times measured from the initial state.

        For a discrete-time model ``times`` are non-negative integer step offsets (an int n means
        ``0, 1, ..., n - 1``); the state at offset 0 is ``init``.

        Args:
            init: ``(..., M)`` initial state (or, for query-time models, an initial code).
            times: ``(Q,)`` sorted offsets, or an int.
            inputs: ``(..., max(times), S)`` external inputs.

        Returns:
            ``(..., Q, M)``.
        """
        if isinstance(times, int):
            times = torch.arange(times, device=init.device)
        t = torch.as_tensor(times, device=init.device)
        if t.dim() != 1:
            raise ValueError(f"times must be one-dimensional, got shape {tuple(t.shape)}")
        if t.numel() == 0:
            return init.new_zeros((*init.shape[:-1], 0, self.latent_dim))
        steps = t.round().long()
        if (t.is_floating_point() and (t - steps).abs().max() > 1e-6) or (steps < 0).any():
            raise ValueError(
                f"{type(self).__name__} is a discrete-time model: times must be non-negative "
                "integer step offsets"
            )
        if (torch.diff(steps) < 0).any():
            raise ValueError("times must be sorted")
        traj = torch.cat([init.unsqueeze(-2), self.rollout(init, int(steps[-1]), inputs)], -2)
        return traj[..., steps, :]

    def jacobian(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """Jacobian of :meth:`step` at ``z``: ``(..., M) -> (..., M, M)`` (autograd)."""
        self._check_state(z)
        flat = z.reshape(-1, self.latent_dim)
        uf = None if u is None else u.reshape(-1, u.shape[-1])

        def f(x: Tensor, ui: Tensor | None) -> Tensor:
            return self.step(x, ui)

        if uf is None:
            jac = torch.func.vmap(torch.func.jacrev(lambda x: f(x, None)))(flat)
        else:
            jac = torch.func.vmap(torch.func.jacrev(f))(flat, uf)
        return jac.reshape(*z.shape, self.latent_dim)


class LinearDynamics(DynamicsModel):
    """z_{t+1} = A z_t + b (+ C u_t): the reference and test double of the dynamics family.

    Args:
        latent_dim: M.
        input_dim: S (0 for no inputs).
        init_scale: A starts as ``init_scale * I``.
    """

    def __init__(self, latent_dim: int, input_dim: int = 0, init_scale: float = 0.9) -> None:
        super().__init__(latent_dim, input_dim)
        self.A = nn.Parameter(init_scale * torch.eye(self.latent_dim))
        self.b = nn.Parameter(torch.zeros(self.latent_dim))
        self.C = nn.Parameter(torch.zeros(self.latent_dim, self.input_dim)) if input_dim else None

    def step(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """``(..., M) -> (..., M)``."""
        out = z @ self.A.T + self.b
        if self.C is not None and u is not None:
            out = out + u @ self.C.T
        return out

    @torch.no_grad()
    def scale_increment(self, factor: float) -> None:
        """``A <- (1 - f) I + f A``, ``b <- f b``, ``C <- f C`` (see the base class)."""
        f = check_increment_factor(factor)
        eye = torch.eye(self.latent_dim, dtype=self.A.dtype, device=self.A.device)
        self.A.mul_(f).add_((1.0 - f) * eye)
        self.b.mul_(f)
        if self.C is not None:
            self.C.mul_(f)

    def jacobian(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """Closed form: A at every state ``(..., M, M)``."""
        return self.A.expand(*z.shape[:-1], self.latent_dim, self.latent_dim)

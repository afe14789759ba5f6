"""Conformance kit for `DynamicsModel` implementations (subclass in a test file)."""

from __future__ import annotations

import torch

from pyrodyn.dynamics.base import DynamicsModel


class DynamicsConformance:
    """Mixin of pytest checks every `DynamicsModel` passes.

    A concrete test class implements :meth:`make_dynamics` and inherits: step shapes over
    arbitrary leading dims, rollout/path consistency with step, the Jacobian (closed form or
    generic) against autograd, device moves and finite gradients.
    """

    batch_shape: tuple[int, ...] = (3, 2)

    def make_dynamics(self) -> DynamicsModel:
        """The dynamics model under test."""
        raise NotImplementedError("implement make_dynamics() in the test class")

    def _inputs(self, f: DynamicsModel, shape: tuple[int, ...]) -> torch.Tensor | None:
        return torch.randn(*shape, f.input_dim) if f.input_dim else None

    def test_step_shapes(self) -> None:
        f = self.make_dynamics()
        z = torch.randn(*self.batch_shape, f.latent_dim)
        out = f.step(z, self._inputs(f, self.batch_shape))
        assert out.shape == z.shape
        assert torch.isfinite(out).all()

    def test_rollout_matches_steps(self) -> None:
        f = self.make_dynamics()
        z0 = torch.randn(4, f.latent_dim) * 0.1
        u = self._inputs(f, (4, 5))
        traj = f.rollout(z0, 5, u)
        assert traj.shape == (4, 5, f.latent_dim)
        z = z0
        for k in range(5):
            z = f.step(z, None if u is None else u[:, k])
            torch.testing.assert_close(traj[:, k], z)
        p = f.path(z0, torch.tensor([0, 3]), u)
        torch.testing.assert_close(p[:, 0], z0)
        torch.testing.assert_close(p[:, 1], traj[:, 2])

    def test_jacobian_matches_autograd(self) -> None:
        f = self.make_dynamics().double()
        z = torch.randn(5, f.latent_dim, dtype=torch.float64)
        u = self._inputs(f, (5,))
        u = None if u is None else u.double()
        jac = f.jacobian(z, u)
        assert jac.shape == (5, f.latent_dim, f.latent_dim)
        for i in range(5):
            ui = None if u is None else u[i]
            ref = torch.autograd.functional.jacobian(lambda x, ui=ui: f.step(x, ui), z[i])
            torch.testing.assert_close(jac[i], ref, atol=1e-8, rtol=1e-6)

    def test_gradients_are_finite(self) -> None:
        f = self.make_dynamics()
        z0 = torch.randn(4, f.latent_dim) * 0.1
        f.rollout(z0, 10, self._inputs(f, (4, 10))).square().sum().backward()
        grads = [p.grad for p in f.parameters() if p.requires_grad]
        assert grads
        assert all(g is not None and torch.isfinite(g).all() for g in grads)

    def test_device_move(self, device: torch.device) -> None:
        f = self.make_dynamics().to(device)
        z = torch.randn(2, f.latent_dim, device=device)
        u = self._inputs(f, (2,))
        out = f.step(z, None if u is None else u.to(device))
        assert out.device.type == device.type

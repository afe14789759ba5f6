import pytest
import torch

from pyrodyn.dynamics.base import DynamicsModel, LinearDynamics


def test_rollout_and_path_follow_step():
    f = LinearDynamics(2, init_scale=0.5)
    z0 = torch.tensor([[1.0, -2.0]])
    traj = f.rollout(z0, 3)
    assert traj.shape == (1, 3, 2)
    assert torch.allclose(traj[:, 2], z0 * 0.5**3)
    p = f.path(z0, torch.tensor([0, 2, 3]))
    assert torch.allclose(p[:, 0], z0) and torch.allclose(p[:, 2], traj[:, 2])
    assert f.path(z0, 4).shape == (1, 4, 2)


def test_inputs_enter_the_step():
    f = LinearDynamics(2, input_dim=1)
    with torch.no_grad():
        f.C.fill_(1.0)
    u = torch.ones(1, 2, 1)
    out = f.rollout(torch.zeros(1, 2), 2, u)
    assert torch.allclose(out[0, 0], torch.ones(2))
    with pytest.raises(ValueError, match="pass inputs"):
        f.rollout(torch.zeros(1, 2), 2)


def test_generic_jacobian_matches_closed_form():
    class Tanh(DynamicsModel):
        def __init__(self):
            super().__init__(3)
            self.W = torch.nn.Parameter(torch.randn(3, 3))

        def step(self, z, u=None):
            return torch.tanh(z @ self.W.T)

    f = Tanh()
    z = torch.randn(4, 3)
    jac = f.jacobian(z)
    expected = (1 - torch.tanh(z @ f.W.T) ** 2)[..., None] * f.W
    assert torch.allclose(jac, expected, atol=1e-6)
    lin = LinearDynamics(3)
    assert torch.allclose(lin.jacobian(z), DynamicsModel.jacobian(lin, z))


def test_bad_inputs():
    f = LinearDynamics(2)
    with pytest.raises(ValueError, match="last dim 2"):
        f.rollout(torch.zeros(1, 3), 2)
    with pytest.raises(ValueError, match="integer step offsets"):
        f.path(torch.zeros(1, 2), torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="sorted"):
        f.path(torch.zeros(1, 2), torch.tensor([2, 1]))
    with pytest.raises(ValueError, match="latent_dim"):
        LinearDynamics(0)

    class NoStep(DynamicsModel):
        pass

    with pytest.raises(NotImplementedError, match="must implement step"):
        NoStep(2).step(torch.zeros(2))

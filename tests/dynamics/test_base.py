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


def _powers(a: float, z0: torch.Tensor, offsets: list[int]) -> torch.Tensor:
    # z_k = a^k z0 for LinearDynamics with A = a I and b = 0 (hand-written reference)
    return torch.stack([z0 * a**k for k in offsets], dim=-2)


def test_path_offsets_edge_cases():
    f = LinearDynamics(2, init_scale=0.5)
    z0 = torch.tensor([[1.0, -2.0], [3.0, 0.5], [0.0, 4.0]])  # batch > 1
    # a single offset is one state, not an empty path
    torch.testing.assert_close(f.path(z0, torch.tensor([0])), z0[:, None])
    torch.testing.assert_close(f.path(z0, torch.tensor([2])), _powers(0.5, z0, [2]))
    # repeated offsets are sorted and give repeated states
    torch.testing.assert_close(f.path(z0, torch.tensor([1, 1, 3])), _powers(0.5, z0, [1, 1, 3]))
    # integer-valued float offsets are step offsets; within 1e-6 of an integer is accepted
    torch.testing.assert_close(f.path(z0, torch.tensor([0.0, 2.0])), _powers(0.5, z0, [0, 2]))
    near = torch.tensor([0.0, 1e-6, 3.0], dtype=torch.float64)
    torch.testing.assert_close(f.path(z0, near), _powers(0.5, z0, [0, 0, 3]))
    torch.testing.assert_close(f.path(z0, 3), _powers(0.5, z0, [0, 1, 2]))


def test_empty_path_keeps_batch_shape():
    f = LinearDynamics(3)
    z0 = torch.randn(2, 4, 3)
    for times in (torch.tensor([], dtype=torch.long), 0):
        out = f.path(z0, times)
        assert out.shape == (2, 4, 0, 3)
    assert f.rollout(z0, 0).shape == (2, 4, 0, 3)


def test_path_passes_inputs_to_the_steps():
    f = LinearDynamics(1, input_dim=1, init_scale=0.5)
    with torch.no_grad():
        f.C.fill_(2.0)
    u = torch.tensor([[[1.0], [-1.0], [3.0]]])
    # z1 = 0.5*1 + 2*1 = 2.5; z2 = 1.25 - 2 = -0.75; z3 = -0.375 + 6 = 5.625
    out = f.path(torch.tensor([[1.0]]), torch.tensor([0, 1, 3]), u)
    torch.testing.assert_close(out, torch.tensor([[[1.0], [2.5], [5.625]]]))


def test_linear_jacobian_has_one_matrix_per_state():
    f = LinearDynamics(3, init_scale=0.7)
    z = torch.randn(2, 4, 3)
    jac = f.jacobian(z)
    assert jac.shape == (2, 4, 3, 3)
    torch.testing.assert_close(jac, 0.7 * torch.eye(3).expand(2, 4, 3, 3))
    assert f.jacobian(torch.randn(3)).shape == (3, 3)

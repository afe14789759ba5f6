"""Generalized teacher forcing and its adaptive strength against hand-written loops."""

import numpy as np
import pytest
import torch

from pyrodyn.dynamics import (
    AdaptiveForcingAlpha,
    ClippedDendPLRNN,
    DynamicsModel,
    generalized_forcing_rollout,
    jacobian_growth,
)


def _gtf_loop(dyn, teacher, alpha, tau, init, inputs):
    """The documented GTF recursion for one (B, T, K) teacher, unit by unit."""
    b, t, k = teacher.shape
    z = torch.cat([teacher[:, 0], init], -1)
    out = []
    for step in range(t):
        z = dyn.step(z, inputs[:, step])
        out.append(z)
        if (step + 1) % tau == 0 and step + 1 < t:
            z = z.clone()
            for i in range(b):
                for j in range(k):
                    a = alpha if isinstance(alpha, float) else float(alpha[i, j])
                    z[i, j] = (1 - a) * z[i, j] + a * teacher[i, step + 1, j]
    return torch.stack(out, 1)


def _setup():
    torch.manual_seed(0)
    dyn = ClippedDendPLRNN(3, num_bases=2, input_dim=1).double()
    teacher = torch.randn(2, 3, 7, 2, dtype=torch.float64)  # (S, B, T, K)
    init = torch.randn(3, 1, dtype=torch.float64)
    inputs = torch.randn(3, 7, 1, dtype=torch.float64)
    return dyn, teacher, init, inputs


@pytest.mark.parametrize("tau", [1, 2, 3])
def test_generalized_forcing_matches_the_recursion(tau):
    dyn, teacher, init, inputs = _setup()
    with torch.no_grad():
        out = generalized_forcing_rollout(dyn, teacher[0], 0.3, tau=tau, init=init, inputs=inputs)
        want = _gtf_loop(dyn, teacher[0], 0.3, tau, init, inputs)
    # alpha is applied in the teacher's precision (float64 here)
    torch.testing.assert_close(out, want, rtol=1e-13, atol=1e-13)


def test_per_sequence_alpha_with_leading_sample_dims():
    dyn, teacher, init, inputs = _setup()
    alpha = torch.tensor([[0.1, 0.9], [0.5, 0.0], [1.0, 0.25]])  # (B, K), float32
    with torch.no_grad():
        for lead in (teacher[0], teacher):
            out = generalized_forcing_rollout(dyn, lead, alpha, tau=2, init=init, inputs=inputs)
            rows = lead.reshape(-1, 3, 7, 2)
            want = torch.stack([_gtf_loop(dyn, r, alpha, 2, init, inputs) for r in rows])
            torch.testing.assert_close(out, want.reshape(out.shape), rtol=1e-6, atol=1e-6)


def test_generalized_forcing_validates_like_sparse_forcing():
    dyn, teacher, init, inputs = _setup()
    with pytest.raises(ValueError, match="larger than the window of 7"):
        generalized_forcing_rollout(dyn, teacher[0], 0.5, tau=8, init=init, inputs=inputs)
    with pytest.raises(ValueError, match="inputs must be"):
        generalized_forcing_rollout(dyn, teacher[0], 0.5, init=init, inputs=inputs[:, :5])
    with pytest.raises(ValueError, match="alpha must lie in"):
        generalized_forcing_rollout(dyn, teacher[0], -0.1, init=init, inputs=inputs)


class _Gain(DynamicsModel):
    """z' = u * z (elementwise): Jacobian diag(u), which only the inputs set."""

    def __init__(self):
        super().__init__(2, input_dim=2)

    def step(self, z, u=None):
        return z * u

    def jacobian(self, z, u=None):
        return torch.diag_embed(u.expand_as(z))


def test_jacobian_growth_is_the_largest_geometric_mean_of_spectral_norms():
    gains = np.array([[[0.5, 0.2], [2.0, -4.0], [0.25, 0.1]], [[1.5, 0.0], [1.5, 1.0], [1.5, 0.2]]])
    states = torch.randn(2, 3, 2)
    u = torch.tensor(gains, dtype=torch.float32)
    norms = np.abs(gains).max(-1)  # spectral norm of diag(u)
    want = np.exp(np.log(norms).mean(-1)).max()  # geometric means 0.5 and 1.5
    assert jacobian_growth(_Gain(), states, u).item() == pytest.approx(want)
    ada = AdaptiveForcingAlpha(gamma=0.5, initial=0.0)
    assert ada.update(_Gain(), states, u) == pytest.approx(1 - 1 / want)
    # contracting everywhere: G < 1 is reported as such
    small = torch.full((1, 3, 2), 0.5)
    assert jacobian_growth(_Gain(), states[:1], small).item() == pytest.approx(0.5)


def test_adaptive_alpha_estimate_and_arguments():
    est = AdaptiveForcingAlpha.estimate
    assert est(4.0) == pytest.approx(0.75)
    assert est(1.0) == 0.0 and est(0.5) == 0.0  # contracting: no forcing needed
    assert est(0.0) == 0.0 and est(-2.0) == 0.0  # degenerate growth estimates
    AdaptiveForcingAlpha(gamma=1.0, initial=1.0)  # upper ends are allowed
    AdaptiveForcingAlpha(gamma=0.1, initial=0.0)
    for gamma in (0.0, 1.5):
        with pytest.raises(ValueError, match="gamma must lie in"):
            AdaptiveForcingAlpha(gamma=gamma)
    for initial in (-0.1, 1.5):
        with pytest.raises(ValueError, match="initial alpha must lie in"):
            AdaptiveForcingAlpha(initial=initial)

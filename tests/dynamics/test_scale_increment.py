"""``scale_increment``: the folded map equals ``z + f (F(z) - z)`` (closed-form reference)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pyrodyn.dynamics.base import DynamicsModel, LinearDynamics, check_increment_factor
from pyrodyn.dynamics.plrnn import (
    PLRNN,
    ClippedDendPLRNN,
    ClippedShallowPLRNN,
    DendPLRNN,
    ShallowPLRNN,
)

BUILDERS = [
    lambda: PLRNN(4, input_dim=2),
    lambda: PLRNN(4, input_dim=0, mean_centering=False),
    lambda: DendPLRNN(4, input_dim=2),
    lambda: ClippedDendPLRNN(4, input_dim=2),
    lambda: ShallowPLRNN(4, hidden_dim=7, input_dim=2),
    lambda: ClippedShallowPLRNN(4, hidden_dim=7, input_dim=0),
    lambda: LinearDynamics(4, input_dim=2, init_scale=0.7),
]


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("factor", [0.97, 1.0, 1.013, 2.5])
def test_folded_step_equals_the_rescaled_increment(build, factor):
    torch.manual_seed(0)
    dyn = build()
    with torch.no_grad():
        for p in dyn.parameters():
            p.add_(0.3 * torch.randn_like(p))  # nonzero biases and inputs everywhere
    z = torch.randn(6, 4)
    u = torch.randn(6, dyn.input_dim) if dyn.input_dim else None
    expected = z + factor * (dyn.step(z, u) - z)
    folded = copy.deepcopy(dyn)
    folded.scale_increment(factor)
    assert torch.allclose(folded.step(z, u), expected, atol=1e-5)
    assert type(folded) is type(dyn)
    assert set(folded.state_dict()) == set(dyn.state_dict())  # the checkpoint format is kept


def test_scaling_twice_composes_multiplicatively():
    dyn = ClippedShallowPLRNN(3, hidden_dim=5)
    z = torch.randn(4, 3)
    once = copy.deepcopy(dyn)
    once.scale_increment(1.02 * 0.99)
    twice = copy.deepcopy(dyn)
    twice.scale_increment(1.02)
    twice.scale_increment(0.99)
    assert torch.allclose(once.step(z), twice.step(z), atol=1e-6)


def test_a_dynamics_model_without_a_fold_says_so():
    class Tanh(DynamicsModel):
        def __init__(self):
            super().__init__(2)

        def step(self, z, u=None):
            return torch.tanh(z)

    with pytest.raises(NotImplementedError, match="Tanh cannot rescale its increment"):
        Tanh().scale_increment(1.01)
    with pytest.raises(ValueError, match="must be positive and finite, got 0"):
        Tanh().scale_increment(0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_bad_factors_are_refused(bad):
    with pytest.raises(ValueError, match="the increment factor must be positive and finite"):
        ShallowPLRNN(2, hidden_dim=3).scale_increment(bad)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_increment_factor_accepts_exactly_positive_finite_numbers(x):
    if math.isfinite(x) and x > 0:
        assert check_increment_factor(x) == x
    else:
        with pytest.raises(ValueError, match="must be positive and finite"):
            check_increment_factor(x)

"""The shipped kits run against the reference components (and catch a broken one)."""

import pytest
import torch

from pyrodyn.dynamics.base import DynamicsModel, LinearDynamics
from pyrodyn.nn.encoders import TemporalConvEncoder
from pyrodyn.testing.dynamics import DynamicsConformance
from pyrodyn.testing.encoder import EncoderConformance


class TestLinearDynamicsConformance(DynamicsConformance):
    def make_dynamics(self):
        return LinearDynamics(3, input_dim=2)


class TestTemporalConvConformance(EncoderConformance):
    def make_encoder(self):
        return TemporalConvEncoder(4, 2)

    def make_input(self, batch_size):
        x = torch.randn(batch_size, 25, 4)
        return x, torch.ones_like(x, dtype=torch.bool)


class _WrongJacobian(LinearDynamics):
    def jacobian(self, z, u=None):
        return 2 * super().jacobian(z, u)


def test_kit_catches_a_wrong_closed_form_jacobian():
    class Case(DynamicsConformance):
        def make_dynamics(self):
            return _WrongJacobian(2)

    with pytest.raises(AssertionError):
        Case().test_jacobian_matches_autograd()


def test_kit_catches_a_step_that_changes_shape():
    class Bad(DynamicsModel):
        def __init__(self):
            super().__init__(2)
            self.w = torch.nn.Parameter(torch.ones(1))

        def step(self, z, u=None):
            return z[..., :1] * self.w

    class Case(DynamicsConformance):
        def make_dynamics(self):
            return Bad()

    with pytest.raises(AssertionError):
        Case().test_step_shapes()

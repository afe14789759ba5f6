import pytest
import torch

from pyrodyn.testing.linear_gaussian import LinearGaussianModel


@pytest.fixture
def weight():
    g = torch.Generator().manual_seed(7)
    return torch.randn(4, 2, generator=g, dtype=torch.float64)


@pytest.fixture
def make_model(weight):
    """Linear-Gaussian model factory: ``make_model(guide_scale=..., guide_shift=...)``."""

    def make(**kw):
        return LinearGaussianModel(weight, noise=0.5, **kw)

    return make


@pytest.fixture
def lg_batch(make_model):
    return make_model().simulate(12, 3)

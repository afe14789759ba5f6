import pytest
import torch

from pyrodyn.diagnostics.sampling import draw_posterior
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


@pytest.fixture
def lg_draws():
    w = torch.randn(4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = LinearGaussianModel(w, noise=0.5, guide_scale=1.1)
    return draw_posterior(model, model.simulate(6, 20), 30)

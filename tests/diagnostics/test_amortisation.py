import numpy as np
import torch

from pyrodyn.diagnostics.amortisation import amortisation_gap
from pyrodyn.diagnostics.sampling import draw_posterior
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


def _setup(**kw):
    w = torch.randn(4, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = LinearGaussianModel(w, noise=0.5, diagonal=True, **kw)
    return model, model.simulate(4, 3)


def test_gap_matches_closed_form():
    # D = 1: the refined mean-field guide is the exact posterior, whose ELBO is log p(x)
    model, batch = _setup(guide_scale=1.5, guide_shift=0.4)
    gap = amortisation_gap(model, batch, steps=80, lr=0.12, eval_particles=512)
    draws = draw_posterior(model, batch, 4000, predictive=False)
    expected = model.log_marginal(batch).numpy() - draws.log_weights.mean(0)
    assert np.all(expected > 1.0)
    np.testing.assert_allclose(gap, expected, atol=0.35)
    assert abs(gap.mean() - expected.mean()) < 0.2


def test_gap_near_zero_for_exact_guide():
    model, batch = _setup()
    gap = amortisation_gap(model, batch, steps=20, lr=0.02, eval_particles=256)
    assert np.all(np.abs(gap) < 0.1)


def test_gap_unavailable_for_non_normal_guide():
    w = torch.randn(4, 2, dtype=torch.float64)
    model = LinearGaussianModel(w, noise=0.5)  # MultivariateNormal guide
    assert amortisation_gap(model, model.simulate(2, 2), steps=1) is None

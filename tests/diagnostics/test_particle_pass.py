"""Draws as a plate: one guide pass for all draws, against the closed-form guide density.

The reference is the linear-Gaussian model's guide written out with scipy (the exact posterior
per step, widened and shifted as configured), evaluated at the drawn latents.
"""

from __future__ import annotations

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from scipy.stats import multivariate_normal

import pyrodyn.diagnostics.sampling as sampling
from pyrodyn.diagnostics import particle_pass as pp
from pyrodyn.diagnostics.sampling import draw_posterior
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


def test_vectorised_draws_have_the_guide_density(make_model, lg_batch, monkeypatch):
    model = make_model(guide_scale=1.3, guide_shift=0.2)

    def repeated(*args, **kw):
        raise AssertionError("the draws were taken over repeated rows")

    monkeypatch.setattr(sampling, "_trace_pass", repeated)
    d = draw_posterior(model, lg_batch, 9)
    assert d.latents["z"].shape == (9, lg_batch.num_sequences, lg_batch.num_steps, 2)
    mean, cov = (t.numpy() for t in model.posterior(lg_batch))
    for i in range(lg_batch.num_sequences):
        ref = sum(
            multivariate_normal(mean[i, t] + 0.2, 1.3**2 * cov[i, t]).logpdf(
                d.latents["z"][:, i, t].astype(np.float64)
            )
            for t in range(lg_batch.num_steps)
        )
        # latents are stored in float32: the reference sees them rounded
        np.testing.assert_allclose(d.log_q[:, i], ref, rtol=1e-5, atol=1e-4)
    # the draws differ between draws and trials (not one draw broadcast)
    assert np.unique(d.latents["z"][:, :, 0, 0]).size == d.latents["z"][:, :, 0, 0].size


class _Unvectorisable(LinearGaussianModel):
    """A guide whose code assumes the latent has exactly the batch's shape."""

    def guide(self, batch, **kw):
        mean, cov = self.posterior(batch)
        with self.plate(batch):
            z = pyro.sample("z", dist.MultivariateNormal(mean, cov).to_event(1))
            z.view(batch.num_sequences, batch.num_steps, self.latent_dim)  # breaks with draws


def test_models_without_a_draws_dim_fall_back_to_repeated_rows(weight, lg_batch, monkeypatch):
    calls = []
    real = sampling.particle_pass

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(sampling, "particle_pass", counted)
    d = draw_posterior(_Unvectorisable(weight, noise=0.5), lg_batch, 5)
    assert calls == [1]  # tried once, then repeated rows
    assert d.latents["z"].shape[0] == 5 and np.isfinite(d.log_weights).all()


def test_rows_layout():
    x = torch.arange(6.0).reshape(2, 3)  # (draws, B)
    assert pp._rows(x, 2, 3, "x").tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    shared = torch.tensor([7.0, 8.0, 9.0])  # (B,): the same for every draw
    assert pp._rows(shared, 2, 3, "s").tolist() == [7.0, 8.0, 9.0, 7.0, 8.0, 9.0]

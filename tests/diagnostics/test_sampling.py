import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics.sampling import draw_posterior, select_trials
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


def test_draw_shapes_and_log_weights(make_model, lg_batch):
    model = make_model(guide_scale=1.2)
    d = draw_posterior(model, lg_batch, 7)
    b, t = lg_batch.num_sequences, lg_batch.num_steps
    assert d.latents["z"].shape == (7, b, t, 2)
    assert d.log_lik["x"].shape == (7, b, t)
    assert d.predictive["x"].shape == (7, b, t, 4)
    assert d.observed["x"].shape == (b, t, 4)
    assert d.kind == {"x": "continuous"}
    assert d.log_weights.shape == (7, b)
    # pointwise log-likelihood against a direct computation at the drawn latents
    z = torch.as_tensor(d.latents["z"], dtype=torch.float64)
    loc = model.decode(z)["x"]["loc"]
    ref = dist.Normal(loc, 0.5).log_prob(lg_batch.obs["x"]).sum(-1).numpy()
    np.testing.assert_allclose(d.log_lik["x"], ref, rtol=1e-5)
    ref_prior = dist.Normal(0.0, 1.0).log_prob(z).sum((-1, -2)).numpy()
    np.testing.assert_allclose(d.log_prior, ref_prior, rtol=1e-5)


def test_missing_entries_drop_out(make_model, lg_batch):
    model = make_model()
    x = lg_batch.obs["x"].clone()
    x[0, 1, 2] = float("nan")
    x[1, :, :] = float("nan")
    batch = MultimodalBatch.from_tensors({"x": x})
    d = draw_posterior(model, batch, 5)
    assert np.isnan(d.observed["x"][0, 1, 2])
    assert np.all(d.log_lik["x"][:, 1] == 0.0)
    z = torch.as_tensor(d.latents["z"][:, 0], dtype=torch.float64)
    loc = model.decode(z)["x"]["loc"]
    lp = dist.Normal(loc, 0.5).log_prob(lg_batch.obs["x"][0])
    lp[:, 1, 2] = 0.0
    np.testing.assert_allclose(d.log_lik["x"][:, 0], lp.sum(-1).numpy(), rtol=1e-5)


def test_chunks_give_the_same_distribution_of_draws(make_model, lg_batch):
    model = make_model()
    one = draw_posterior(model, lg_batch, 6, max_rows=lg_batch.num_sequences)
    many = draw_posterior(model, lg_batch, 6)
    assert one.latents["z"].shape == many.latents["z"].shape
    assert not np.allclose(one.latents["z"][0], one.latents["z"][1])


class _GlobalScale(LinearGaussianModel):
    """Adds a global random site outside the sequence plate."""

    def model(self, batch, **kw):
        pyro.sample("g", dist.Normal(torch.zeros((), dtype=torch.float64), 1.0))
        super().model(batch)

    def guide(self, batch, **kw):
        pyro.sample("g", dist.Normal(torch.zeros((), dtype=torch.float64), 0.5))
        super().guide(batch)


def test_global_sites_are_drawn_once_per_draw(weight, lg_batch):
    d = draw_posterior(_GlobalScale(weight, noise=0.5), lg_batch, 4)
    assert d.global_latents["g"].shape == (4,)
    assert len(np.unique(d.global_latents["g"])) == 4
    assert d.latents["z"].shape[0] == 4


def test_select_trials():
    rng = np.random.default_rng(0)
    ds = MultimodalDataset({"x": rng.standard_normal((10, 8, 2))})
    assert select_trials(ds, 4).num_sequences == 4
    assert select_trials(ds, None).num_sequences == 10
    rec = MultimodalDataset({"x": rng.standard_normal((50, 2))})
    windows = select_trials(rec, 64, window=10)
    assert windows.num_sequences == 5 and windows.num_steps == 10
    with pytest.raises(ValueError, match="num_trials must be >= 1"):
        select_trials(ds, 0)
    with pytest.raises(TypeError, match="MultimodalDataset or MultimodalBatch"):
        select_trials({"x": 1}, 3)


def test_batch_without_model_modality_raises(make_model):
    batch = MultimodalBatch.from_tensors({"y": torch.zeros(2, 3, 4)})
    with pytest.raises(ValueError, match="lacks modalities"):
        draw_posterior(make_model(), batch, 2)

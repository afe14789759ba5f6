from __future__ import annotations

import numpy as np
import pytest
import torch

from pyrodyn.app.generation import generate, generation_plan, init_batch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.svae import SVAE


def test_init_batch_single_recording_spreads_starts():
    ds = MultimodalDataset({"g": np.random.default_rng(0).normal(size=(100, 2))})
    b = init_batch(ds, 3, window=20)
    assert b.obs["g"].shape == (3, 20, 2)
    torch.testing.assert_close(b.obs["g"][2, 0], ds.data["g"][0, 80])
    multi = MultimodalDataset({"g": np.zeros((2, 30, 2))})
    assert init_batch(multi, 5, None).index.tolist() == [0, 1, 0, 1, 0]


def _batch(t: int = 12):
    ds = MultimodalDataset({"x": np.random.default_rng(0).normal(size=(2, t, 2))})
    return ds, init_batch(ds, 2, None)


def test_a_model_without_generates_is_refused_by_name():
    from pyrodyn.testing.linear_gaussian import LinearGaussianModel

    ds, init = _batch()
    model = LinearGaussianModel(torch.randn(2, 2, dtype=torch.float64), noise=0.5)
    with pytest.raises(
        TypeError, match=r"LinearGaussianModel cannot generate .*the Generates capability"
    ):
        generate(model, init, 5, trials=2, burn_in=0)
    with pytest.raises(TypeError, match="does not declare the Generates capability"):
        generation_plan(model, ds, None, 5, 2, 0)


class _NoNoise(SVAE):
    generation_options = frozenset()


def test_noise_is_passed_only_to_models_that_declare_it():
    _, init = _batch()
    liks = {"x": Gaussian(2)}
    model = SVAE(liks, latent_dim=2).eval()
    torch.manual_seed(0)
    noisy = generate(model, init, 6, trials=2, burn_in=0, noise=True)
    torch.manual_seed(0)
    quiet = generate(model, init, 6, trials=2, burn_in=0, noise=False)
    assert noisy["x"].shape == quiet["x"].shape == (2, 6, 2)
    assert not torch.allclose(noisy["latent"], quiet["latent"])  # the option reached generate
    with pytest.raises(ValueError, match=r"_NoNoise.generate has no 'noise' option"):
        generate(_NoNoise(liks, latent_dim=2), init, 6, trials=2, burn_in=0, noise=True)


class _Limited(SVAE):
    def generation_limit(self, init):
        return 10


def test_generation_plan_respects_the_declared_limit():
    ds = MultimodalDataset({"x": np.random.default_rng(0).normal(size=(8, 30, 2))})
    model = _Limited({"x": Gaussian(2)}, latent_dim=2)
    init, steps, trials, limited = generation_plan(model, ds, 5, 40, 1, 2)
    assert (steps, trials) == (8, 5) and init.num_sequences == 5
    assert limited["generation_limit"] == 10 and limited["requested_steps"] == 40
    assert generation_plan(model, ds, 5, 8, 1, 2)[3] is None
    with pytest.raises(ValueError, match="burn_in=10 leaves none to evaluate"):
        generation_plan(model, ds, 5, 8, 1, 10)

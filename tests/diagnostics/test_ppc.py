import numpy as np
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.ppc import coverage, pit, ppc_summary
from pyrodyn.diagnostics.sampling import PosteriorDraws, draw_posterior
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


def test_coverage_near_nominal_on_data_simulated_from_the_model():
    w = torch.randn(30, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model = LinearGaussianModel(w, noise=0.5)
    batch = model.simulate(20, 10)
    cov = coverage(draw_posterior(model, batch, 200), "x", (0.5, 0.9))
    assert cov[0.9] == pytest.approx(0.9, abs=0.03)
    assert cov[0.5] == pytest.approx(0.5, abs=0.05)


def test_coverage_detects_overconfidence(weight):
    model = LinearGaussianModel(weight, noise=0.5)
    batch = LinearGaussianModel(weight, noise=1.5).simulate(20, 5)
    cov = coverage(draw_posterior(model, batch, 200), "x", (0.9,))
    assert cov[0.9] < 0.8


def _draws(pred, obs, kind):
    s, n = pred.shape[0], obs.shape[0]
    return PosteriorDraws(
        latents={},
        global_latents={},
        deterministic={},
        log_lik={"m": np.zeros((s, n, 1))},
        log_prior=np.zeros((s, n)),
        log_q=np.zeros((s, n)),
        predictive={"m": pred.reshape(s, n, 1, -1)},
        observed={"m": obs.reshape(n, 1, -1).astype(np.float64)},
        kind={"m": kind},
        static=False,
    )


def test_randomised_pit_calibrated_for_counts():
    rng = np.random.default_rng(0)
    d = _draws(rng.poisson(2.0, (400, 3000)).astype(float), rng.poisson(2.0, 3000), "count")
    cov = coverage(d, "m", (0.5, 0.9))
    assert cov[0.9] == pytest.approx(0.9, abs=0.02)
    assert cov[0.5] == pytest.approx(0.5, abs=0.03)
    u = pit(d, "m")
    assert np.histogram(u, bins=5, range=(0, 1))[0].min() > 500
    s = ppc_summary(d, "m")
    assert s["kind"] == "count"
    # the summary's coverage is coverage() itself (one PIT, computed once)
    assert s["coverage"] == {str(k): v for k, v in cov.items()}
    counts = s["counts"]
    assert counts["value"][:3] == [0, 1, 2]
    assert sum(counts["observed"]) == 3000
    assert counts["expected"][2] == pytest.approx(3000 * 2 * np.exp(-2), rel=0.05)


def test_category_frequencies():
    rng = np.random.default_rng(1)
    p = [0.2, 0.5, 0.3]
    d = _draws(
        rng.choice(3, size=(200, 500), p=p).astype(float), rng.choice(3, 500, p=p), "categorical"
    )
    s = ppc_summary(d, "m")
    cats = s["categories"]
    assert cats["category"] == [0, 1, 2]
    np.testing.assert_allclose(cats["predicted"], p, atol=0.03)
    assert all(lo <= m <= hi for lo, m, hi in zip(cats["lower"], cats["predicted"], cats["upper"]))
    np.testing.assert_allclose(cats["observed"], p, atol=0.06)


def test_one_hot_is_compared_by_category():
    rng = np.random.default_rng(2)
    idx = rng.choice(3, size=(100, 50))
    pred = np.eye(3)[idx]
    obs = np.eye(3)[rng.choice(3, 50)]
    d = _draws(pred.reshape(100, 50, 3), obs, "onehot")
    d.predictive["m"] = pred.reshape(100, 50, 1, 3)
    d.observed["m"] = obs.reshape(50, 1, 3)
    assert ppc_summary(d, "m")["categories"]["category"] == [0, 1, 2]


def test_continuous_summary_and_bad_levels(make_model, lg_batch):
    d = draw_posterior(make_model(), lg_batch, 20)
    s = ppc_summary(d, "x")
    assert s["kind"] == "continuous" and 0 <= s["p_mean"] <= 1
    with pytest.raises(ValueError, match="must lie in \\(0, 1\\)"):
        coverage(d, "x", (1.5,))
    no_pred = draw_posterior(make_model(), lg_batch, 2, predictive=False)
    with pytest.raises(ValueError, match="no posterior predictive draws"):
        coverage(no_pred, "x")


def test_dynamics_checks_need_a_generating_model_and_sequences():
    from pyrodyn.diagnostics.ppc import dynamics_checks
    from pyrodyn.likelihoods import Gaussian
    from pyrodyn.models.mmvm import MultimodalVAE
    from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
    from pyrodyn.nn.fusion import ProductOfExperts

    model = MultimodalVAE(
        {"a": Gaussian(2)}, {"a": StaticMLPEncoder(2, 2, hidden=(4,))}, ProductOfExperts()
    )
    batch = MultimodalBatch.from_tensors({"a": torch.randn(3, 2)}, static=True)
    with pytest.raises(ValueError, match=r"declares the Generates capability.*MultimodalVAE"):
        dynamics_checks(model, batch)

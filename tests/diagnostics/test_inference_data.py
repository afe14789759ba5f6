import warnings

import matplotlib.pyplot as plt
import numpy as np
import pyro
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics import arviz_adapter as adapter
from pyrodyn.diagnostics.diagnose import diagnose
from pyrodyn.diagnostics.inference_data import (
    draws_to_inference_data,
    to_inference_data,
    var_name,
    write_posterior,
)
from pyrodyn.diagnostics.sampling import PosteriorDraws, draw_posterior
from pyrodyn.testing.lgssm import fit_encoder, lgssm_svae


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        # ArviZ warns about high k-hat; the tests compare numbers
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def test_groups_dims_values_and_missing_entries(make_model, lg_batch, weight, tmp_path):
    x = lg_batch.obs["x"].clone()
    x[0, 0, 0] = float("nan")
    x[1] = float("nan")  # a trial without observations
    x[1, 2, 3] = 0.7
    batch = MultimodalBatch.from_tensors({"x": x})
    data = to_inference_data(make_model(guide_scale=1.2), batch, num_samples=30)
    assert set(adapter.group_names(data)) >= {
        "posterior",
        "posterior_predictive",
        "log_likelihood",
        "observed_data",
        "sample_stats",
        "constant_data",
    }
    post = adapter.group(data, "posterior")
    assert post["z"].dims == ("chain", "draw", "trial", "time", "latent")
    assert post["z"].shape == (1, 30, 12, 3, 2)
    obs = adapter.group(data, "observed_data")
    full = obs["x_full"].values
    assert obs["x_full"].dims == ("trial", "time", "x_feature")
    assert np.isnan(full[0, 0, 0]) and not np.isnan(full[0, 0, 1])
    # one observation per trial: log p(x_i | z) summed over the observed steps and features,
    # against scipy's normal density at the posterior draws
    ll = adapter.group(data, "log_likelihood")["x"]
    assert ll.dims == ("chain", "draw", "trial")
    z = post["z"].values[0].astype(np.float64)
    loc = z @ weight.numpy().T  # (S, B, T, F)
    dens = stats.norm.logpdf(full, loc, 0.5)
    want = np.where(np.isnan(full), 0.0, dens).sum(axis=(2, 3))
    np.testing.assert_allclose(ll.values[0], want, rtol=1e-5)
    # the LOO-PIT test quantity: the mean of the trial's observed entries, in both groups
    np.testing.assert_allclose(obs["x"].values[[0, 2]], np.nanmean(full[[0, 2]], axis=(1, 2)))
    assert obs["x"].values[1] == pytest.approx(0.7)
    pp = adapter.group(data, "posterior_predictive")
    rep = np.ma.masked_array(
        pp["x_full"].values[0], np.broadcast_to(np.isnan(full), (30, *x.shape))
    )
    np.testing.assert_allclose(pp["x"].values[0], rep.mean(axis=(2, 3)).filled(np.nan), rtol=1e-6)
    assert pp["x"].dims == ("chain", "draw", "trial")
    stats_ = adapter.group(data, "sample_stats")
    assert stats_["log_weight"].dims == ("chain", "draw", "trial")
    ratio = stats_["log_ratio_x"].values
    np.testing.assert_allclose(ratio, ll.values + stats_["log_prior"] - stats_["log_q"])
    # one modality: its ratios are the full importance weights
    np.testing.assert_allclose(ratio, stats_["log_weight"].values)
    path = tmp_path / "posterior.nc"
    write_posterior(data, path)
    back = adapter.from_netcdf(path)
    assert np.isfinite(float(_quiet(adapter.loo, back, "x")["elpd_loo"]))


def test_trial_subset_and_names(make_model):
    batch = make_model().simulate(10, 2)
    dataset = MultimodalDataset({"x": batch.obs["x"].numpy()})
    data = to_inference_data(make_model(), dataset, num_samples=4, num_trials=3)
    assert adapter.group(data, "posterior")["z"].shape[2] == 3
    np.testing.assert_array_equal(
        adapter.group(data, "log_likelihood")["source_trial"].values, [0, 4, 9]
    )
    assert var_name("prior.z") == "prior_z"
    assert var_name("latent") == "latent_site"
    assert torch.is_tensor(batch.obs["x"])


def test_a_modality_named_like_another_ones_full_variable_is_refused():
    s, b, t = 2, 3, 4
    draws = PosteriorDraws(
        latents={},
        global_latents={},
        deterministic={},
        log_lik={"x": np.zeros((s, b, t)), "x_full": np.zeros((s, b, t))},
        log_prior=np.zeros((s, b)),
        log_q=np.zeros((s, b)),
        predictive={},
        observed={"x": np.zeros((b, t, 1)), "x_full": np.zeros((b, t, 1))},
        kind={"x": "continuous", "x_full": "continuous"},
        static=False,
    )
    with pytest.raises(ValueError, match="'x' and 'x_full' would share"):
        draws_to_inference_data(draws)


# ------------------------------------------------------------- a fitted run, read by ArviZ


def _recording(seed=1, steps=240):
    model, ssm = lgssm_svae(2, {"a": 2, "b": 3}, seed=0, dtype=torch.float32)
    _, y = ssm.sample(1, steps, generator=torch.Generator().manual_seed(seed))
    y = y[0].numpy()
    return model, MultimodalDataset({"a": y[:, :2], "b": y[:, 2:]})


@pytest.fixture(scope="module")
def fitted_runs(tmp_path_factory):
    """Two diagnosed runs on the windows of one recording: an LGSSM SVAE whose encoder was
    fitted for 30 steps, and the same model with doubled observation noise."""
    model, data = _recording()
    fit_encoder(model, data.windows(20), steps=30)
    runs = {}
    for name, scale in (("fitted", None), ("noisy", 1.0)):
        if scale is not None:
            with torch.no_grad():
                for m in model.modalities:
                    model.likelihoods[m].scale.fill_(scale)
        out = tmp_path_factory.mktemp(name)
        pyro.set_rng_seed(0)
        summary = diagnose(
            model, data, out, num_samples=100, window=20, amortisation_steps=0, figures=False
        )
        runs[name] = (out / "posterior.nc", summary)
    return runs


def test_az_loo_on_the_file_gives_the_reported_psis_loo(fitted_runs):
    az = adapter.arviz_module()
    path, summary = fitted_runs["fitted"]
    data = adapter.from_netcdf(path)
    for m in ("a", "b"):
        rep = summary["loo"][m]
        assert rep["estimator"] == "psis_loo"
        res = _quiet(az.loo, data, var_name=m, pointwise=True)
        assert float(res["elpd_loo"]) == pytest.approx(rep["elpd_loo"], rel=1e-10)
        assert float(res["se"]) == pytest.approx(rep["se"], rel=1e-10)
        assert float(res["p_loo"]) == pytest.approx(rep["p_loo"], rel=1e-10)
        assert float(res["pareto_k"].max()) == pytest.approx(rep["khat_max"], rel=1e-10)
        assert int(res["n_data_points"]) == rep["num_trials"] == 12
        # observations are windows, labelled by the trial and step they start at
        np.testing.assert_array_equal(res["loo_i"]["start"].values, np.arange(0, 240, 20))
        np.testing.assert_array_equal(res["loo_i"]["source_trial"].values, np.zeros(12))


def test_the_file_holds_the_importance_sampling_estimator_too(fitted_runs):
    path, summary = fitted_runs["fitted"]
    data = adapter.from_netcdf(path)
    ll_attrs = adapter.group(data, "log_likelihood").attrs
    assert "psis_loo" in ll_attrs["az_loo"] and "is_marginal" in ll_attrs["importance_sampling"]
    ratios = adapter.group(data, "sample_stats")
    for m in ("a", "b"):
        rep = summary["loo"][m]["is_marginal"]
        assert rep["estimator"] == "is_marginal" and "p_loo" not in rep
        r = ratios[f"log_ratio_{m}"].values[0]  # (S, B)
        pointwise = logsumexp(r, axis=0) - np.log(r.shape[0])
        assert pointwise.sum() == pytest.approx(rep["elpd_loo"], rel=1e-10)
        assert np.sqrt(12 * pointwise.var()) == pytest.approx(rep["se"], rel=1e-10)
        # the two estimators differ on a multimodal model with a rough guide; both are reported
        assert abs(rep["elpd_loo"] - summary["loo"][m]["elpd_loo"]) > 1.0


def test_az_compare_of_two_exported_runs(fitted_runs):
    az = adapter.arviz_module()
    files = {k: adapter.from_netcdf(p) for k, (p, _) in fitted_runs.items()}
    table = _quiet(az.compare, files, var_name="a", ic="loo")
    for name, (_, summary) in fitted_runs.items():
        assert table.loc[name, "elpd_loo"] == pytest.approx(summary["loo"]["a"]["elpd_loo"])
    assert table.index[0] == "fitted"  # the data were drawn with the fitted model's noise


def test_az_plot_loo_pit_and_plot_khat_run_on_the_file(fitted_runs):
    az = adapter.arviz_module()
    data = adapter.from_netcdf(fitted_runs["fitted"][0])
    plt.switch_backend("Agg")
    for m in ("a", "b"):
        pit = _quiet(az.loo_pit, data, y=m)
        assert pit.shape == (12,) and np.all((pit >= 0) & (pit <= 1))
        ax = _quiet(az.plot_loo_pit, data, y=m)
        assert ax is not None
        ax = _quiet(az.plot_khat, _quiet(az.loo, data, var_name=m, pointwise=True))
        assert ax is not None
    plt.close("all")


def test_the_file_round_trips_through_netcdf(tmp_path):
    model, data = _recording(steps=60)
    pyro.set_rng_seed(0)
    draws = draw_posterior(model, data.windows(20), 8)
    built = draws_to_inference_data(draws)
    write_posterior(built, tmp_path / "p.nc")
    back = adapter.from_netcdf(tmp_path / "p.nc")
    assert set(adapter.group_names(back)) == set(adapter.group_names(built))
    for g in adapter.group_names(built):
        a, b = adapter.group(built, g), adapter.group(back, g)
        assert set(a.data_vars) == set(b.data_vars)
        for v in a.data_vars:
            assert a[v].dims == b[v].dims
            np.testing.assert_array_equal(a[v].values, b[v].values)
        for c in ("source_trial", "start"):
            if "trial" in a.dims:
                np.testing.assert_array_equal(a[c].values, b[c].values)
        assert {k: v for k, v in b.attrs.items() if k in a.attrs} == dict(a.attrs)
    np.testing.assert_array_equal(adapter.group(back, "posterior")["start"].values, [0, 20, 40])

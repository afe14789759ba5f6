import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

from pyrodyn.diagnostics import arviz_adapter as adapter


def _groups(rng, s=40, b=5, t=6):
    groups = {
        "posterior": {"z": rng.standard_normal((1, s, b, t, 2))},
        "posterior_predictive": {
            "a": rng.standard_normal((1, s, b, t, 3)),
            "b": rng.poisson(2.0, (1, s, b, t, 4)).astype(float),
        },
        "log_likelihood": {
            "a": rng.standard_normal((1, s, b, t)) - 3.0,
            "b": rng.standard_normal((1, s, b, t)) - 5.0,
        },
        "observed_data": {"a": rng.standard_normal((b, t, 3)), "b": np.ones((b, t, 4))},
    }
    dims = {
        "posterior": {"z": ["trial", "time", "latent"]},
        "posterior_predictive": {
            "a": ["trial", "time", "a_feature"],
            "b": ["trial", "time", "b_feature"],
        },
        "log_likelihood": {"a": ["trial", "time"], "b": ["trial", "time"]},
        "observed_data": {
            "a": ["trial", "time", "a_feature"],
            "b": ["trial", "time", "b_feature"],
        },
    }
    return groups, dims, {"trial": np.arange(b), "time": np.arange(t)}


def test_installed_arviz_builds_writes_reads_and_runs_loo_per_modality(tmp_path):
    groups, dims, coords = _groups(np.random.default_rng(0))
    data = adapter.build(groups, dims, coords)
    assert set(adapter.group_names(data)) >= set(groups)
    ll = adapter.group(data, "log_likelihood")
    assert ll["a"].dims == ("chain", "draw", "trial", "time")
    pp = adapter.group(data, "posterior_predictive")
    assert pp["b"].dims == ("chain", "draw", "trial", "time", "b_feature")
    obs = adapter.group(data, "observed_data")
    assert obs["a"].dims == ("trial", "time", "a_feature")
    path = tmp_path / "posterior.nc"
    adapter.to_netcdf(data, path)
    back = adapter.from_netcdf(path)
    for m in ("a", "b"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = adapter.loo(back, m)
        assert np.isfinite(float(res["elpd_loo"]))


def test_from_netcdf_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no netCDF file"):
        adapter.from_netcdf(tmp_path / "absent.nc")


class _FakeNode(dict):
    pass


class _FakeArviz1:
    """Records the calls the 1.x branch makes (the API of specs/ecosystem.md B.2)."""

    __version__ = "1.3.0"

    def __init__(self):
        self.calls = []

    def from_dict(self, data, *, sample_dims=None, dims=None, coords=None, **kw):
        assert isinstance(data, dict) and len(data) == 1
        self.calls.append(
            {"data": data, "sample_dims": sample_dims, "dims": dims, "coords": coords, "kw": kw}
        )
        tree = _FakeNode()
        for g, v in data.items():
            tree[g] = _FakeNode(v)
        return tree


def test_v1_branch_uses_one_nested_dict_per_group():
    fake = _FakeArviz1()
    groups, dims, coords = _groups(np.random.default_rng(1))
    tree = adapter.build(groups, dims, coords, az=fake)
    assert adapter.arviz_major(fake) == 1
    assert [next(iter(c["data"])) for c in fake.calls] == list(groups)
    for c in fake.calls:
        g = next(iter(c["data"]))
        assert c["sample_dims"] == ["chain", "draw"]
        assert c["dims"] == dims[g]
        assert c["coords"] == coords
    assert set(tree) == set(groups)


def _pointwise_elpd(res):
    """``(elpd_i, elpd)`` of an ArviZ 0.x ``ELPDData`` (a Series) or a 1.x one (a dataclass)."""
    if hasattr(res, "elpd_i"):
        return np.asarray(res.elpd_i).ravel(), float(res.elpd)
    return np.asarray(res["loo_i"]).ravel(), float(res["elpd_loo"])


def test_installed_arviz_round_trip_keeps_values_and_loo_is_importance_sampling(tmp_path):
    """Whichever ArviZ major is installed (0.x here, 1.x on Python >= 3.12)."""
    az = adapter.arviz_module()
    rng = np.random.default_rng(2)
    groups, dims, coords = _groups(rng)
    # log-likelihoods that barely vary over draws: Pareto smoothing then moves the leave-one-out
    # estimate by < 1e-3, so plain importance sampling is the reference
    for m, offset in (("a", -3.0), ("b", -5.0)):
        base = rng.standard_normal((1, 1, 5, 6)) + offset
        groups["log_likelihood"][m] = base + 0.05 * rng.standard_normal((1, 40, 5, 6))
    data = adapter.build(groups, dims, coords)
    want_type = "DataTree" if adapter.arviz_major(az) >= 1 else "InferenceData"
    assert type(data).__name__ == want_type
    adapter.to_netcdf(data, tmp_path / "p.nc")
    back = adapter.from_netcdf(tmp_path / "p.nc")
    for g, variables in groups.items():
        for name, values in variables.items():
            np.testing.assert_array_equal(adapter.group(back, g)[name].values, values)
    for m in ("a", "b"):
        ll = groups["log_likelihood"][m].reshape(40, -1)
        # elpd_i = log (1 / mean_s exp(-ll_s,i)): the raw importance-sampling LOO
        raw = -(logsumexp(-ll, axis=0) - np.log(ll.shape[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pointwise, total = _pointwise_elpd(adapter.loo(back, m))
        np.testing.assert_allclose(pointwise, raw, rtol=0, atol=2e-3)
        assert total == pytest.approx(raw.sum(), abs=5e-3)


def test_psislw_smooths_the_tail_of_independent_draws_only():
    rng = np.random.default_rng(4)
    lr = 2.0 * rng.standard_normal((3, 400))
    lw, k = adapter.psislw(lr)
    assert lw.shape == (3, 400) and k.shape == (3,) and np.all(np.isfinite(k))
    np.testing.assert_allclose(logsumexp(lw, axis=-1), 0.0, atol=1e-12)
    # relative efficiency 1 (independent draws): the tail is the ceil(3 sqrt(400)) = 60
    # largest ratios; every other draw keeps its raw weight up to normalisation
    shift = lw - lr
    for row, ratios in zip(shift, lr):
        body = np.argsort(ratios)[:-60]
        np.testing.assert_allclose(row[body], row[body][0], atol=1e-12)
        changed = np.flatnonzero(np.abs(row - row[body][0]) > 1e-9)
        # (the largest may stay: the smoothed tail is truncated at the largest raw weight)
        assert 55 <= changed.size <= 60 and set(changed) <= set(np.argsort(ratios)[-60:])


def test_psis_loo_is_az_loo_and_importance_sampling_for_flat_likelihoods():
    az = adapter.arviz_module()
    rng = np.random.default_rng(5)
    # 400 draws: the Pareto tail (60 draws) depends on the relative efficiency
    ll = rng.standard_normal((1, 6)) - 4.0 + 0.05 * rng.standard_normal((400, 6))
    res = adapter.psis_loo(ll)
    raw = -(logsumexp(-ll, axis=0) - np.log(400))
    np.testing.assert_allclose(res["elpd_i"], raw, atol=2e-3)
    lppd = logsumexp(ll, axis=0) - np.log(400)
    assert res["p_loo"] == pytest.approx(float((lppd - res["elpd_i"]).sum()))
    assert res["se"] == pytest.approx(float(np.sqrt(6 * res["elpd_i"].var())))
    # as on a file: one chain, ArviZ derives the relative efficiency itself
    data = adapter.build(
        {"posterior": {"mu": rng.standard_normal((1, 400))}, "log_likelihood": {"y": ll[None]}},
        {"log_likelihood": {"y": ["obs"]}},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.loo(data, var_name="y", pointwise=True)
    np.testing.assert_allclose(res["elpd_i"], np.asarray(ref["loo_i"]), rtol=1e-12)
    np.testing.assert_allclose(res["khat"], np.asarray(ref["pareto_k"]), rtol=1e-12)
    with pytest.raises(ValueError, match="draws, observations"):
        adapter.psis_loo(ll[0])


def test_labels_and_attrs_reach_every_group_with_the_dim(tmp_path):
    groups, dims, coords = _groups(np.random.default_rng(6))
    groups["sample_stats"] = {"lw": np.zeros((1, 40, 5))}
    dims["sample_stats"] = {"lw": ["trial"]}
    groups["posterior"]["g"] = np.zeros((1, 40, 2))
    dims["posterior"]["g"] = ["g_dim_0"]
    starts = np.array([0, 10, 20, 30, 40])
    data = adapter.build(
        groups,
        dims,
        coords,
        labels={"start": ("trial", starts), "source_trial": ("trial", np.zeros(5, int))},
        attrs={"log_likelihood": {"unit": "one trial"}},
    )
    adapter.to_netcdf(data, tmp_path / "p.nc")
    back = adapter.from_netcdf(tmp_path / "p.nc")
    for g in groups:
        np.testing.assert_array_equal(adapter.group(back, g)["start"].values, starts)
        assert "start" not in adapter.group(back, g).indexes  # a label, not the index
    assert adapter.group(back, "log_likelihood").attrs["unit"] == "one trial"
    assert "unit" not in adapter.group(back, "posterior").attrs


def test_psis_needs_arviz_0x():
    fake = _FakeArviz1()
    with pytest.raises(RuntimeError, match=r"arviz<1"):
        adapter.psislw(np.zeros((2, 30)), az=fake)
    with pytest.raises(RuntimeError, match=r"pins arviz>=0.17,<1"):
        adapter.psis_loo(np.zeros((30, 2)), az=fake)

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

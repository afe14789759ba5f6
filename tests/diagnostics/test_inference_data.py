import warnings

import numpy as np
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics import arviz_adapter as adapter
from pyrodyn.diagnostics.inference_data import to_inference_data, var_name, write_posterior


def test_groups_dims_and_missing_values(make_model, lg_batch, tmp_path):
    x = lg_batch.obs["x"].clone()
    x[0, 0, 0] = float("nan")
    batch = MultimodalBatch.from_tensors({"x": x})
    data = to_inference_data(make_model(guide_scale=1.2), batch, num_samples=30)
    names = set(adapter.group_names(data))
    assert names >= {
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
    ll = adapter.group(data, "log_likelihood")
    assert ll["x"].dims == ("chain", "draw", "trial", "time")
    obs = adapter.group(data, "observed_data")["x"].values
    assert np.isnan(obs[0, 0, 0]) and not np.isnan(obs[0, 0, 1])
    stats = adapter.group(data, "sample_stats")
    assert stats["log_weight"].dims == ("chain", "draw", "trial")
    path = tmp_path / "posterior.nc"
    write_posterior(data, path)
    back = adapter.from_netcdf(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = adapter.loo(back, "x")
    assert np.isfinite(float(res["elpd_loo"]))


def test_trial_subset_and_names(make_model):
    batch = make_model().simulate(10, 2)
    data = to_inference_data(make_model(), batch, num_samples=4, num_trials=3)
    assert adapter.group(data, "posterior")["z"].shape[2] == 3
    assert var_name("prior.z") == "prior_z"
    assert var_name("latent") == "latent_site"
    assert torch.is_tensor(batch.obs["x"])

import json

import numpy as np
import pytest
import torch

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics import arviz_adapter as adapter
from pyrodyn.diagnostics.diagnose import check_modalities, diagnose
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


def test_diagnose_writes_everything(make_model, lg_batch, tmp_path):
    model = make_model(guide_scale=1.2, diagonal=True)
    # figures are checked on a fitted SVAE in tests/app/test_diagnose.py (rendering is slow)
    summary = diagnose(
        model, lg_batch, tmp_path, num_samples=40, amortisation_steps=5, figures=False
    )
    for name in ("posterior.nc", "diagnostics.json", "diagnostics.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    on_disk = json.loads((tmp_path / "diagnostics.json").read_text())
    assert on_disk["importance"]["applies"] is True
    assert len(on_disk["importance"]["per_trial"]) == lg_batch.num_sequences
    assert "amortisation_gap" in on_disk["importance"]["per_trial"][0]
    assert set(on_disk["loo"]) == {"x"}
    assert "0.9" in on_disk["ppc"]["x"]["coverage"]
    md = (tmp_path / "diagnostics.md").read_text()
    assert "k-hat > 0.7" in md and "coverage 90%" in md
    assert summary["num_samples"] == 40
    back = adapter.from_netcdf(tmp_path / "posterior.nc")
    assert "log_likelihood" in adapter.group_names(back)


class _NotElbo(LinearGaussianModel):
    is_elbo = False


def test_non_elbo_model_gets_predictive_checks_only(weight, lg_batch, tmp_path):
    summary = diagnose(_NotElbo(weight), lg_batch, tmp_path, num_samples=10, figures=False)
    assert summary["importance"]["applies"] is False
    assert "do not apply" in summary["importance"]["reason"]
    assert "coverage" in summary["ppc"]["x"]
    assert "Not applicable" in (tmp_path / "diagnostics.md").read_text()
    assert not (tmp_path / "khat.png").exists()


def test_flagged_trials_are_listed(make_model, lg_batch, tmp_path):
    diagnose(
        make_model(guide_shift=1.0),
        lg_batch,
        tmp_path,
        num_samples=40,
        amortisation_steps=0,
        figures=False,
    )
    md = (tmp_path / "diagnostics.md").read_text()
    assert (
        f"Trials with k-hat > 0.7 (importance-weighted estimates unreliable): "
        f"{lg_batch.num_sequences}" in md
    )
    assert "| trial | k-hat |" in md


def test_windows_of_one_recording_are_labelled_by_trial_and_start(make_model, tmp_path):
    model = make_model(guide_shift=1.0)
    recording = model.simulate(1, 60).obs["x"][0].numpy()  # (time, features): one recording
    data = MultimodalDataset({"x": recording})
    summary = diagnose(
        model, data, tmp_path, num_samples=40, window=20, amortisation_steps=0, figures=False
    )
    rows = summary["importance"]["per_trial"]
    assert [(r["trial"], r["start"]) for r in rows] == [(0, 0), (0, 20), (0, 40)]
    md = (tmp_path / "diagnostics.md").read_text()
    assert "| trial | start step | k-hat |" in md
    assert "| 0 | 20 |" in md and "| 0 | 40 |" in md


def test_bad_inputs(make_model, lg_batch, tmp_path):
    with pytest.raises(ValueError, match="num_samples \\(K\\) must be an integer >= 1"):
        diagnose(make_model(), lg_batch, tmp_path, num_samples=0)
    with pytest.raises(TypeError, match="figures must be a figure writer"):
        diagnose(make_model(), lg_batch, tmp_path, num_samples=2, figures=True)
    other = MultimodalDataset({"y": np.zeros((2, 3, 4))})
    with pytest.raises(ValueError, match="lacks modalities \\['x'\\]"):
        check_modalities(make_model(), other, "other.npz")
    narrow = MultimodalDataset({"x": np.zeros((2, 3, 5))})
    with pytest.raises(ValueError, match="feature shape \\(5,\\)"):
        check_modalities(make_model(), narrow, "narrow.npz")
    assert torch.is_tensor(lg_batch.obs["x"])

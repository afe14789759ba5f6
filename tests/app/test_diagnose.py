import json

import numpy as np
import pytest

from pyrodyn.app.cli import main
from pyrodyn.app.diagnose import check_run_dir, diagnose_run
from pyrodyn.diagnostics import arviz_adapter as adapter


@pytest.fixture(scope="module")
def svae_run(tmp_path_factory):
    from pyrodyn.app.fitrun import fit_run

    root = tmp_path_factory.mktemp("svae_run")
    rng = np.random.default_rng(0)
    t = np.arange(40) * 0.2
    phase = rng.uniform(0, 6, size=(6, 1))
    lat = np.stack([np.sin(t + phase), np.cos(t + phase)], -1)  # (6, 40, 2)
    gauss = lat @ rng.standard_normal((2, 3)) + 0.1 * rng.standard_normal((6, 40, 3))
    counts = rng.poisson(np.exp(0.5 * lat @ rng.standard_normal((2, 4))))
    np.savez(root / "data.npz", gaussian=gauss, poisson=counts.astype(float))
    cfg = {
        "data": {
            "path": str(root / "data.npz"),
            "modalities": {
                "gaussian": {"likelihood": {"type": "Gaussian"}},
                "poisson": {"likelihood": {"type": "Poisson"}},
            },
            "valid_fraction": 0.0,
            "standardize": ["gaussian"],
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {"steps": 3, "lr": 1e-2, "batch_size": 4, "progress": False},
        "seed": 0,
        "device": "cpu",
    }
    fit_run(cfg, root / "run")
    mtf = dict(cfg, model={"type": "MTF", "dynamics": {"type": "PLRNN", "latent_dim": 3}, "tau": 5})
    fit_run(mtf, root / "mtf")
    np.savez(root / "wrong.npz", gaussian=gauss)
    return root


def test_diagnose_run_on_a_fitted_svae(svae_run, tmp_path):
    out, summary = diagnose_run(
        svae_run / "run", out=tmp_path, num_samples=30, amortisation_steps=3
    )
    assert out == str(tmp_path)
    assert summary["importance"]["applies"] and summary["importance"]["num_trials"] == 6
    assert set(summary["loo"]) == {"gaussian", "poisson"}
    assert summary["ppc"]["poisson"]["kind"] == "count"
    assert "dynamics" in summary and "gaussian" in summary["dynamics"]
    for name in (
        "posterior.nc",
        "diagnostics.md",
        "ppc.png",
        "calibration.png",
        "khat.png",
        "spectra.png",
        "attractor.png",
        "latents.png",
        "history.png",
    ):
        assert (tmp_path / name).exists(), name
    data = adapter.from_netcdf(tmp_path / "posterior.nc")
    post = adapter.group(data, "posterior")
    assert any(v.dims[2:4] == ("trial", "time") for v in post.data_vars.values())
    for m in ("gaussian", "poisson"):
        assert adapter.group(data, "log_likelihood")[m].dims == ("chain", "draw", "trial", "time")


def test_cli_diagnose(svae_run, tmp_path, capsys):
    rc = main(
        [
            "diagnose",
            str(svae_run / "run"),
            "--out",
            str(tmp_path),
            "-K",
            "10",
            "--amortisation-steps",
            "0",
            "--no-figures",
        ]
    )
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    summary = json.loads((tmp_path / "diagnostics.json").read_text())
    assert summary["num_samples"] == 10


def test_diagnose_run_bad_inputs(svae_run, tmp_path):
    with pytest.raises(ValueError, match="poisson"):
        diagnose_run(svae_run / "run", svae_run / "wrong.npz", out=tmp_path)
    with pytest.raises(ValueError, match=r"K\) must be an integer >= 1"):
        diagnose_run(svae_run / "run", out=tmp_path, num_samples=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_run_dir(tmp_path / "nope")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no checkpoint\.pt"):
        diagnose_run(tmp_path / "empty_run")
    assert main(["diagnose", str(tmp_path / "empty_run")]) != 0


def test_diagnose_run_on_a_fitted_mtf_says_importance_does_not_apply(svae_run, tmp_path):
    _, summary = diagnose_run(svae_run / "mtf", out=tmp_path, num_samples=20, figures=False)
    assert summary["model"] == "MTF"
    assert summary["importance"]["applies"] is False
    assert "do not apply" in summary["importance"]["reason"]
    assert set(summary["ppc"]) == {"gaussian", "poisson"}
    assert "gaussian" in summary["dynamics"]
    data = adapter.from_netcdf(tmp_path / "posterior.nc")
    assert {"posterior", "posterior_predictive", "log_likelihood"} <= set(adapter.group_names(data))
    assert "do not apply" in (tmp_path / "diagnostics.md").read_text()

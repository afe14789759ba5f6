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
        assert adapter.group(data, "log_likelihood")[m].dims == ("chain", "draw", "trial")


def test_cli_diagnose(svae_run, tmp_path, capsys):
    rc = main(
        [
            "diagnose",
            str(svae_run / "run"),
            "--out",
            str(tmp_path),
            "-K",
            "25",
            "--sbc-sims",
            "20",
            "--sbc-draws",
            "9",
            "--no-figures",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed
    assert "Is the posterior calibrated? " in printed
    summary = json.loads((tmp_path / "diagnostics.json").read_text())
    assert summary["num_samples"] == 25
    assert summary["sbc"]["num_simulations"] == 20 and summary["sbc"]["num_draws"] == 9


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


# ---------------------------------------------------------------- verdicts (issue 14 item 6)
@pytest.fixture(scope="module")
def held_run(svae_run):
    """The tiny SVAE fitted with a third of its trials held out (LFO's validation data)."""
    import yaml

    from pyrodyn.app.fitrun import fit_run

    cfg = yaml.safe_load((svae_run / "run" / "config.yaml").read_text())
    cfg["data"]["valid_fraction"] = 0.34
    cfg.pop("run", None)
    fit_run(cfg, svae_run / "held")
    return svae_run / "held"


def test_report_opens_with_a_verdict_per_question(held_run, tmp_path):
    _, summary = diagnose_run(
        held_run, out=tmp_path, num_samples=30, sbc_simulations=20, sbc_draws=9, lfo_origins=3
    )
    questions = [v["question"] for v in summary["verdicts"]]
    assert questions == [
        "Is the posterior calibrated?",
        "Does the model predict the held-out future?",
        "Do replicated data look like the data?",
        "Can importance-weighted numbers be trusted?",
    ]
    assert all(v["status"] in ("pass", "fail") for v in summary["verdicts"]), summary["verdicts"]
    assert summary["sbc"]["num_simulations"] == 20 and summary["lfo"]["num_origins"] == 3
    # LFO scores the two validation trials the fit never saw
    assert summary["lfo"]["num_sequences"] == 2
    assert "validation trials" in summary["lfo"]["source"]
    md = (tmp_path / "diagnostics.md").read_text()
    assert md.index("## Verdicts") < md.index("## Importance diagnostics")
    for figure in ("sbc.png", "lfo.png", "ppc.png", "khat.png"):
        assert (tmp_path / figure).exists(), figure
        assert f"![{figure}]({figure})" in md
    assert "## Simulation-based calibration" in md
    assert "## Leave-future-out predictive accuracy" in md
    on_disk = json.loads((tmp_path / "diagnostics.json").read_text())
    assert [v["status"] for v in on_disk["verdicts"]] == [v["status"] for v in summary["verdicts"]]


def test_skipped_and_missing_checks_are_listed_with_the_reason(svae_run, tmp_path, capsys):
    args = ["diagnose", str(svae_run / "run"), "--out", str(tmp_path), "-K", "25"]
    rc = main([*args, "--sbc-sims", "0", "--no-figures"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Is the posterior calibrated? not applicable" in printed
    md = (tmp_path / "diagnostics.md").read_text()
    na = md[md.index("## Not applicable here") :]
    assert "**simulation-based calibration**: not run (0 simulations asked for)" in na
    # the run kept no validation split: LFO says so and how to give held-out data
    assert "**leave-future-out CV**: the run kept no held-out data" in na
    assert "--data FILE.npz" in na
    assert "**amortisation gap**: not run" in na


def test_mtf_run_lists_what_does_not_apply_instead_of_failing(svae_run, tmp_path):
    # --data makes the file the held-out data, so LFO's own reason shows
    _, summary = diagnose_run(
        svae_run / "mtf", svae_run / "data.npz", out=tmp_path, num_samples=20, figures=False
    )
    status = {v["check"]: v["status"] for v in summary["verdicts"]}
    assert status == {
        "simulation-based calibration": "not applicable",
        "leave-future-out CV": "not applicable",
        "posterior predictive checks": status["posterior predictive checks"],
        "PSIS k-hat per trial": "not applicable",
    }
    assert status["posterior predictive checks"] in ("pass", "fail")
    assert "HasProperPrior" in summary["sbc"]["reason"]
    assert "is_elbo=False" in summary["lfo"]["reason"]
    md = (tmp_path / "diagnostics.md").read_text()
    na = md[md.index("## Not applicable here") : md.index("## Importance diagnostics")]
    for check in (
        "simulation-based calibration",
        "leave-future-out CV",
        "PSIS k-hat per trial",
        "leave-one-trial-out elpd (LOO)",
    ):
        assert f"**{check}**" in na, check
    assert "IWAE, PSIS k-hat, ESS" in na


def test_too_few_draws_for_psis_is_a_clear_error(svae_run, tmp_path):
    with pytest.raises(ValueError, match=r"K\) = 10 draws per trial are too few for PSIS") as err:
        diagnose_run(svae_run / "run", out=tmp_path, num_samples=10)
    assert "K >= 25" in str(err.value) and "-K 100" in str(err.value)
    assert main(["diagnose", str(svae_run / "run"), "--out", str(tmp_path), "-K", "5"]) != 0

from __future__ import annotations

import shutil

import numpy as np
import pyro
import pytest
import torch
import yaml

import pyrodyn
from pyrodyn.app.assemble import prepare_data
from pyrodyn.app.cli import main
from pyrodyn.app.config import resolve
from pyrodyn.app.fitrun import fit_run
from pyrodyn.app.rundir import Run, load_run


@pytest.fixture(scope="module")
def svae_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rundir")
    rng = np.random.default_rng(0)
    np.savez(
        root / "d.npz",
        g=rng.normal(3.0, 2.0, size=(6, 30, 2)),
        c=rng.poisson(2.0, size=(6, 30, 1)).astype(float),
    )
    cfg = {
        "data": {
            "path": str(root / "d.npz"),
            "modalities": {
                "g": {"likelihood": {"type": "Gaussian"}},
                "c": {"likelihood": {"type": "Poisson"}},
            },
            "window": 10,
            "valid_fraction": 0.34,
            "standardize": ["g"],
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {"steps": 3, "batch_size": 2, "progress": False},
    }
    fit_run(cfg, root / "run")
    torch.manual_seed(0)
    return root, cfg


def test_load_run_gives_model_data_config_and_standardizer(svae_run):
    root, cfg = svae_run
    run = pyrodyn.load_run(root / "run")
    assert isinstance(run, Run) and run.path == str(root / "run")
    assert type(run.model).__name__ == "SVAE" and not run.model.training
    assert run.config["model"] == {"type": "SVAE", "latent_dim": 2}
    assert run.config["objective"] is None  # the model's default objective
    # the training data exactly as the fit saw them: same split, same standardisation
    train, valid, std = prepare_data(resolve(cfg))
    torch.testing.assert_close(run.data.data["g"], train.data["g"])
    torch.testing.assert_close(run.valid_data.data["c"], valid.data["c"])
    np.testing.assert_allclose(run.standardizer.mean["g"], std.mean["g"])
    assert abs(float(run.data.data["g"].mean())) < 1e-5  # standardised, not data units
    raw = run.load_data(standardize=False)
    assert raw.num_trials == 6 and float(raw.data["g"].mean()) > 2.0


def test_svi_runs_on_a_loaded_run(svae_run):
    run = pyrodyn.load_run(svae_run[0] / "run")
    svi = pyro.infer.SVI(
        run.model.model, run.model.guide, pyro.optim.Adam({"lr": 1e-3}), run.model.elbo
    )
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    losses = [svi.step(run.data.sample_batch(4, window=10)) for _ in range(3)]
    assert all(np.isfinite(losses))
    changed = [k for k, v in run.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed  # SVI trained the run's own parameters


def test_missing_training_data_names_the_path_and_the_remedy(svae_run, tmp_path):
    root, _ = svae_run
    moved = tmp_path / "run"
    shutil.copytree(root / "run", moved)
    cfg = yaml.safe_load((moved / "config.yaml").read_text())
    cfg["data"]["path"] = str(tmp_path / "gone.npz")
    (moved / "config.yaml").write_text(yaml.safe_dump(cfg))
    run = load_run(moved)  # the model loads without the data
    with pytest.raises(FileNotFoundError, match=r"gone\.npz.*does not exist.*load_run\(.*data="):
        _ = run.data
    again = load_run(moved, data=root / "d.npz")
    assert again.data.num_trials == 4 and again.data_path == str(root / "d.npz")
    with pytest.raises(FileNotFoundError, match=r"data file .*nope\.npz' does not exist"):
        load_run(moved, data=tmp_path / "nope.npz")


def test_load_run_errors(svae_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_run(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        load_run(tmp_path)
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(svae_run[0] / "run" / "config.yaml", half / "config.yaml")
    with pytest.raises(FileNotFoundError, match=r"has no checkpoint\.pt"):
        load_run(half)


def test_a_checkpoint_that_does_not_fit_names_the_converter(svae_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(svae_run[0] / "run", run)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["state_dict"]["renamed.weight"] = ckpt["state_dict"].pop(next(iter(ckpt["state_dict"])))
    torch.save(ckpt, run / "checkpoint.pt")
    with pytest.raises(
        ValueError,
        match=r"does not fit the SVAE built from its config.yaml: missing keys .*"
        r"unexpected keys \['renamed.weight'\].*`pyrodyn convert .*run`",
    ):
        load_run(run)


def test_convert_an_up_to_date_run(svae_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(svae_run[0] / "run", run)
    before = (run / "config.yaml").read_text()
    assert main(["convert", str(run)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (run / "config.yaml").read_text() == before and not (run / "config.yaml.orig").exists()


def test_load_run_is_exported_lazily():
    import subprocess
    import sys

    from pyrodyn.app import rundir

    assert pyrodyn.load_run is rundir.load_run and pyrodyn.Run is rundir.Run
    code = "import sys, pyrodyn; assert not [m for m in sys.modules if m.startswith('pyrodyn.app')]"
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="has no attribute 'load_runs'"):
        _ = pyrodyn.load_runs

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import pyrodyn
from pyrodyn.app.cli import COMMANDS, build_parser, main


def _write_data(path, steps: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(steps) * 0.3
    state = np.stack([np.sin(t), np.cos(t)], 1)
    gauss = 3.0 * state + 5.0 + 0.1 * rng.normal(size=(steps, 2))
    counts = rng.poisson(np.exp(0.5 * state[:, :1] + 0.2), size=(steps, 1)).astype(float)
    np.savez(path, gaussian=gauss, poisson=counts)
    return path


def _config(data_path, **fit):
    return {
        "data": {
            "path": str(data_path),
            "modalities": {
                "gaussian": {"likelihood": {"type": "Gaussian"}},
                "poisson": {"likelihood": {"type": "poisson"}},
            },
            "window": 30,
            "valid_fraction": 0.2,
            "standardize": ["gaussian"],
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {
            "steps": 20,
            "lr": 1e-2,
            "batch_size": 4,
            "checkpoint_every": 10,
            "schedules": {"beta": {"type": "linear", "start": 0.5, "end": 1.0, "steps": 10}},
            **fit,
        },
        "evaluate": {"steps": 200, "pe_steps": 3, "max_points": 100},
    }


@pytest.fixture
def setup(tmp_path):
    data = _write_data(tmp_path / "train.npz")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(_config(data)))
    return tmp_path, data, cfg


def test_end_to_end(setup, capsys):
    tmp, data, cfg = setup
    run = tmp / "run"
    assert main(["fit", str(cfg), "--out", str(run), "--set", "fit.steps=20", "--seed", "1"]) == 0
    assert "fitted 20 steps" in capsys.readouterr().out
    for name in ("config.yaml", "history.csv", "checkpoint.pt"):
        assert (run / name).exists()
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["seed"] == 1
    assert resolved["data"]["modalities"]["gaussian"]["likelihood"]["feature_shape"] == [2]
    assert set(resolved["run"]["versions"]) >= {"torch", "pyro", "pyrodyn"}
    std = resolved["run"]["standardizer"]["gaussian"]
    assert std["mean"] == pytest.approx([5.0, 5.0], abs=0.3)
    torch.load(run / "checkpoint.pt", weights_only=True)

    assert main(["generate", str(run), "--steps", "50", "--trials", "3", "--burn-in", "5"]) == 0
    gen = np.load(run / "generated.npz")
    assert gen["gaussian"].shape == (3, 50, 2) and gen["latent"].shape == (3, 50, 2)
    assert gen["poisson"].shape == (3, 50, 1)
    # data units: the standardisation (mean about 5) is undone
    assert abs(gen["gaussian"].mean() - 5.0) < 3.0

    out = tmp / "enc.npz"
    assert main(["encode", str(run), "--data", str(data), "--out", str(out)]) == 0
    assert np.load(out)["latent"].shape == (1, 400, 2)

    assert main(["evaluate", str(run), "--data", str(data), "--steps", "300"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"d_stsp", "d_h", "pe"} <= set(metrics)
    # a 20-step model may generate outside the +-2 sd bins: D_stsp is then NaN, stored as null
    assert metrics["d_stsp"] is None or metrics["d_stsp"] >= 0
    assert isinstance(metrics["d_h"], float) and isinstance(metrics["pe"], float)
    ev = metrics["evaluation"]
    assert ev["generated"]["steps"] == 300 and ev["generated"]["burn_in"] == 0
    assert ev["metrics"]["d_stsp"]["modalities"] == ["gaussian"]
    assert ev["metrics"]["d_stsp"]["method"] == {"gaussian": "bins"}
    assert ev["metrics"]["pe"]["n"] == 3 and len(ev["metrics"]["pe"]["curve"]) == 3

    loaded = pyrodyn.load_run(run)
    assert type(loaded.model).__name__ == "SVAE" and loaded.standardizer is not None


def test_resume_and_existing_run(setup, capsys):
    tmp, _, cfg = setup
    run = tmp / "run"
    assert main(["fit", str(cfg), "--out", str(run), "--set", "fit.steps=10"]) == 0
    assert main(["fit", str(cfg), "--out", str(run)]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["fit", str(cfg), "--out", str(run), "--resume", "--set", "fit.steps=15"]) == 0
    assert "fitted 15 steps" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["fit.stepz=3"], r"unknown key\(s\) \['stepz'\] in section 'fit'.*valid keys: \['steps'"),
        (["colour=red"], r"unknown key\(s\) \['colour'\] in the top level.*'data', 'model'"),
        (["model.type=SVEA"], r"unknown GenerativeModel type 'SVEA' \(did you mean SVAE\?\)"),
        (
            ["data.modalities.gaussian.likelihood.type=Gausian"],
            r"unknown Likelihood type 'Gausian'.*Valid names: Likelihood: .*Gaussian",
        ),
        (["model.latent_dims=3"], r"SVAE got unknown parameter\(s\) \['latent_dims'\]; it accepts"),
        (
            ["data.modalities.spikes={likelihood: {type: Poisson}}"],
            r"modalities \['spikes'\] named in the config are not in .*holds modalities "
            r"\['gaussian', 'poisson'\]",
        ),
        (["data.path=/nonexistent/x.npz"], r"FileNotFoundError: data file '/nonexistent/x.npz'"),
        (["fit.lr_schedule={type: warp}"], r"unknown lr_schedule type 'warp'"),
        (["fit.schedules.beta={type: wiggle}"], r"unknown schedule type 'wiggle'"),
        (["data.standardize=[nope]"], r"data.standardize names \['nope'\]"),
    ],
)
def test_bad_inputs_exit_nonzero_with_one_line(setup, capsys, overrides, message):
    import re

    tmp, _, cfg = setup
    args = ["fit", str(cfg), "--out", str(tmp / "r")]
    for o in overrides:
        args += ["--set", o]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("pyrodyn fit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert re.search(message, err), err


def test_missing_config_file_and_run_dir(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "none.yaml")]) == 1
    assert "is neither a file nor a shipped config" in capsys.readouterr().err
    assert main(["generate", str(tmp_path), "--steps", "3"]) == 1
    assert "not a run directory" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nope"), "--data", "x.npz"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_threads_option(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        assert main(["--threads", "0", "fit", str(tmp_path / "none.yaml")]) == 1
        assert "--threads must be >= 1, got 0" in capsys.readouterr().err
        assert main(["--threads", "1", "fit", str(tmp_path / "none.yaml")]) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_debug_env_shows_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRODYN_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["fit", str(tmp_path / "none.yaml")])


def test_commands_table_matches_contract():
    assert {"fit", "generate", "encode", "evaluate", "demo"} <= set(COMMANDS)
    parser = build_parser()
    ns = parser.parse_args(
        [
            "generate",
            "r",
            "--steps",
            "5",
            "--trials",
            "2",
            "--burn-in",
            "1",
            "--init",
            "i.npz",
            "--out",
            "o.npz",
        ]
    )
    assert (ns.steps, ns.trials, ns.burn_in, ns.init, ns.out) == (5, 2, 1, "i.npz", "o.npz")
    ns = parser.parse_args(
        [
            "fit",
            "c.yaml",
            "--set",
            "a=1",
            "--set",
            "b.c=2",
            "--device",
            "cpu",
            "--seed",
            "3",
            "--resume",
            "--out",
            "d",
        ]
    )
    assert ns.overrides == ["a=1", "b.c=2"] and ns.resume and ns.seed == 3


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["generate"])
    assert exc.value.code == 2

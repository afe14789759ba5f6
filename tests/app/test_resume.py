"""``fit --resume`` keeps the record: same model, data and seed; nothing written if refused."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pyrodyn.app.cli import main
from pyrodyn.app.resume import check_resume, config_changes, file_digest
from pyrodyn.exceptions import ConfigError


def _data(path, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(path, g=rng.normal(size=(10, 20, 2)))


@pytest.fixture
def fitted(tmp_path, tiny_config):
    tiny_config(lr=0.01)
    run = tmp_path / "run"
    assert main(["fit", str(tmp_path / "cfg.yaml"), "--out", str(run)]) == 0
    return tmp_path, run


def _digests(run):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.iterdir())}


def _resume(tmp, run, *extra):
    return main(["fit", str(tmp / "cfg.yaml"), "--out", str(run), "--resume", *extra])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.latent_dim=3", r"model.latent_dim: 2 -> 3.*is a new run"),
        ("seed=5", r"seed: 0 -> 5"),
        ("data.window=5", r"data.window: 10 -> 5"),
        ("objective=TraceELBO", r"objective.*TraceELBO"),
        ("fit.lr=0.5", r"fit.lr: 0.01 -> 0.5.*pass --allow-changed-fit"),
        ("fit.batch_size=3", r"fit.batch_size: 2 -> 3"),
    ],
)
def test_a_refused_resume_writes_nothing(fitted, capsys, override, message):
    tmp, run = fitted
    before = _digests(run)
    assert _resume(tmp, run, "--set", override, "--set", "fit.steps=8") == 1
    err = capsys.readouterr().err
    assert "ConfigError: cannot resume" in err
    assert re.search(message, err), err
    assert _digests(run) == before  # config.yaml, history.csv and checkpoint.pt untouched


def test_changed_data_content_is_refused_and_a_moved_file_is_not(fitted, capsys):
    tmp, run = fitted
    moved = tmp / "moved.npz"
    moved.write_bytes((tmp / "d.npz").read_bytes())
    _data(tmp / "d.npz", seed=1)  # same path, other numbers
    before = _digests(run)
    assert _resume(tmp, run, "--set", "fit.steps=6") == 1
    assert "data (content of data.path)" in capsys.readouterr().err
    assert _digests(run) == before
    assert _resume(tmp, run, "--set", "fit.steps=6", "--set", f"data.path={moved}") == 0
    record = yaml.safe_load((run / "config.yaml").read_text())
    assert record["data"]["path"] == str(moved)
    assert record["run"]["resumes"][-1]["changed"]["fit.steps"] == [4, 6]
    assert "data.path" not in record["run"]["resumes"][-1]["changed"]


def test_optimiser_changes_need_the_flag_and_are_recorded(fitted, capsys):
    tmp, run = fitted
    first = yaml.safe_load((run / "config.yaml").read_text())
    assert _resume(tmp, run, "--set", "fit.lr=0.005", "--set", "fit.steps=6") == 1
    assert _resume(tmp, run, "--set", "fit.lr=0.005", "--set", "fit.steps=6",
                   "--allow-changed-fit") == 0  # fmt: skip
    record = yaml.safe_load((run / "config.yaml").read_text())
    assert record["fit"]["lr"] == 0.005 and record["fit"]["steps"] == 6
    (entry,) = record["run"]["resumes"]
    assert entry["from_step"] == 4
    assert entry["changed"] == {"fit.lr": [0.01, 0.005], "fit.steps": [4, 6]}
    assert record["run"]["created"] == first["run"]["created"]
    assert record["run"]["data_sha256"] == file_digest(tmp / "d.npz")
    assert main(["fit", str(tmp / "cfg.yaml"), "--out", str(tmp / "new"),
                 "--allow-changed-fit"]) == 1  # fmt: skip
    assert "--allow-changed-fit applies to --resume only" in capsys.readouterr().err


def test_resume_needs_a_run(tmp_path, fitted, capsys):
    tmp, _ = fitted
    assert _resume(tmp, tmp_path / "nothing") == 1
    assert "holds no run to continue" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_free_keys_change_freely():
    old = {"model": {"type": "SVAE"}, "fit": {"steps": 1, "max_time": None, "lr": 1.0},
           "device": "cpu", "evaluate": {"steps": 3}, "run": {"created": "a"}}  # fmt: skip
    new = {"model": {"type": "SVAE"}, "fit": {"steps": 9, "max_time": 60.0, "lr": 1.0},
           "device": "cuda", "evaluate": {"steps": 30}, "run": {"created": "b"}}  # fmt: skip
    changes = check_resume(old, new)
    assert set(changes) == {"fit.steps", "fit.max_time", "device", "evaluate.steps"}
    new["model"]["prior"] = {"type": "GPPrior"}
    with pytest.raises(ConfigError, match=r"model.prior.type: '<unset>' -> 'GPPrior'"):
        check_resume(old, new, allow_changed_fit=True)


configs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.dictionaries(st.text("abc", min_size=1, max_size=3), children, max_size=3),
    max_leaves=10,
)


@given(configs, configs)
def test_changes_are_exactly_the_differing_leaves(a, b):
    a, b = {"x": a}, {"x": b}
    assert config_changes(a, a) == {}
    changes = config_changes(a, b)
    if a == b:
        assert changes == {}
    for key, (old, new) in changes.items():
        assert old != new and key.startswith("x")
    assert config_changes(b, a) == {k: (n, o) for k, (o, n) in changes.items()}


def test_a_run_recorded_before_init_and_restarts_existed_resumes():
    # configs written before fit.init / fit.restarts lack them; the resolved defaults are free
    old = {"model": {"type": "SVAE"}, "fit": {"steps": 1, "lr": 1.0}, "run": {}}
    new = {"model": {"type": "SVAE"}, "fit": {"steps": 1, "lr": 1.0, "init": None, "restarts": 1},
           "run": {}}  # fmt: skip
    assert set(check_resume(old, new)) == {"fit.init", "fit.restarts"}
    changed = {**new, "fit": {**new["fit"], "init": {"type": "ridge"}}}
    assert "fit.init.type" in check_resume(new, changed)  # None -> a mapping: any change goes
    assert set(check_resume(changed, {**new, "fit": {**new["fit"], "init": {"type": "x"}}})) == {
        "fit.init.type"
    }

from __future__ import annotations

import csv
import logging
import math

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pyrodyn.app.fitrun import fit_run
from pyrodyn.app.restarts import RESTARTS_DIR, RESTARTS_FILE, check_restarts, fit_restarts
from pyrodyn.app.rundir import load_run
from pyrodyn.exceptions import ConfigError
from pyrodyn.infer.checkpoint import CHECKPOINT_FILE, load_checkpoint
from pyrodyn.infer.state import FitResult

from .conftest import sine_mtf


def _cfg(restarts, **fit):
    return {"seed": 5, "fit": {"restarts": restarts, "select": {"every": 2}, **fit}}


@given(st.integers(min_value=1, max_value=50))
def test_any_count_from_one_is_accepted(n):
    assert check_restarts(_cfg(n)) == n


@given(st.one_of(st.integers(max_value=0), st.booleans(), st.floats(), st.text(max_size=3)))
def test_anything_else_is_refused(value):
    with pytest.raises(ConfigError, match=r"fit.restarts must be an integer >= 1, got"):
        check_restarts(_cfg(value))


def test_restarts_need_a_selection_and_one_process():
    assert check_restarts({"fit": {}}) == 1
    assert check_restarts({"fit": {"restarts": 1, "select": None}}) == 1
    with pytest.raises(ConfigError, match=r"fit.restarts: 3 needs fit.select: the restarts are"):
        check_restarts({"fit": {"restarts": 3, "select": None}})
    with pytest.raises(ConfigError, match=r"fit.restarts: 2 runs in single-process fits only"):
        check_restarts(_cfg(2, devices=2))


class _Fake:
    """A ``fit_once`` whose restarts take ``durations`` seconds of a fake clock and score
    ``scores``; it records the configurations it was given and writes a checkpoint."""

    def __init__(self, scores, durations):
        self.scores, self.durations, self.now, self.calls = scores, durations, 0.0, []

    def clock(self):
        return self.now

    def __call__(self, cfg, run_dir):
        k = len(self.calls)
        self.calls.append(cfg)
        self.now += self.durations[k]
        with open(f"{run_dir}/{CHECKPOINT_FILE}", "w") as f:
            f.write(f"restart {k}")
        with open(f"{run_dir}/history.csv", "w") as f:
            f.write("step\n1\n")

        class Selection:
            best_score = self.scores[k]
            best_step = None if math.isinf(self.scores[k]) else 10 * (k + 1)

        result = FitResult(model=torch.nn.Linear(1, 1), steps_done=100 + k, elapsed=1.5)
        return result, Selection()


def _table(path):
    with open(path / RESTARTS_FILE) as f:
        return list(csv.DictReader(f))


def test_the_lowest_score_is_kept_and_promoted(tmp_path):
    fake = _Fake([0.5, 0.2, 0.2, 0.9], [10, 10, 10, 10])
    result, records = fit_restarts(_cfg(4, max_time=100.0), str(tmp_path), fake, clock=fake.clock)
    assert [c["seed"] for c in fake.calls] == [5, 1005, 2005, 3005]
    assert all(c["fit"]["restarts"] == 4 for c in fake.calls)
    assert [r["kept"] for r in records] == [False, True, False, False]  # the first of a tie
    assert result.steps_done == 101
    assert (tmp_path / CHECKPOINT_FILE).read_text() == "restart 1"
    assert (tmp_path / "history.csv").exists() and not (tmp_path / "selection.csv").exists()
    for k in range(4):
        assert (tmp_path / RESTARTS_DIR / str(k) / CHECKPOINT_FILE).read_text() == f"restart {k}"
    rows = _table(tmp_path)
    assert [r["seed"] for r in rows] == ["5", "1005", "2005", "3005"]
    assert [r["kept"] for r in rows] == ["False", "True", "False", "False"]
    assert rows[1] == {
        "restart": "1",
        "seed": "1005",
        "steps": "101",
        "elapsed": "1.5",
        "score": "0.2",
        "best_step": "20",
        "kept": "True",
    }


def test_each_restart_gets_an_equal_share_of_what_is_left(tmp_path):
    # restart 0 overruns its 25 s by 15 s: the three others share the remaining 60 s
    fake = _Fake([1.0, 1.0, 1.0, 1.0], [40, 20, 20, 20])
    fit_restarts(_cfg(4, max_time=100.0), str(tmp_path), fake, clock=fake.clock)
    shares = [c["fit"]["max_time"] for c in fake.calls]
    assert shares == pytest.approx([25.0, 20.0, 20.0, 20.0])


def test_a_restart_left_without_time_is_skipped(tmp_path, caplog):
    fake = _Fake([1.0, 0.5, 0.1], [120, 1, 1])
    with caplog.at_level(logging.WARNING, logger="pyrodyn.app.restarts"):
        _, records = fit_restarts(_cfg(3, max_time=90.0), str(tmp_path), fake, clock=fake.clock)
    assert len(fake.calls) == 1 and [r["kept"] for r in records] == [True]
    assert "no time left for restarts 1..2" in caplog.text
    assert not (tmp_path / RESTARTS_DIR / "1").exists()


def test_without_a_time_budget_every_restart_runs_the_whole_fit(tmp_path):
    fake = _Fake([2.0, 1.0], [5, 5])
    fit_restarts(_cfg(2, max_time=None, steps=300), str(tmp_path), fake, clock=fake.clock)
    assert [c["fit"]["max_time"] for c in fake.calls] == [None, None]
    assert [c["fit"]["steps"] for c in fake.calls] == [300, 300]


def test_no_finite_score_keeps_restart_zero(tmp_path, caplog):
    fake = _Fake([math.inf, math.inf], [1, 1])
    with caplog.at_level(logging.WARNING, logger="pyrodyn.app.restarts"):
        _, records = fit_restarts(_cfg(2), str(tmp_path), fake, clock=fake.clock)
    assert [r["kept"] for r in records] == [True, False]
    assert [r["score"] for r in records] == [None, None]
    assert "no restart had a finite selection score; kept restart 0" in caplog.text
    assert _table(tmp_path)[0]["score"] == ""


def _sine_config(tmp_path, **fit):
    select = {"every": 2, "steps": 200, "burn_in": 10}
    _, cfg = sine_mtf(
        tmp_path, 600, latent_dim=2, fit={"steps": 4, "batch_size": 4, "select": select, **fit}
    )
    return {**cfg, "seed": 0}


def _weights(path):
    return load_checkpoint(path)["state_dict"]


def test_fit_run_with_restarts_keeps_the_best_seed(tmp_path):
    run = tmp_path / "run"
    result, cfg = fit_run(_sine_config(tmp_path, restarts=2), run)
    rows = _table(run)
    assert [r["seed"] for r in rows] == ["0", "1000"] and [r["steps"] for r in rows] == ["4", "4"]
    scores = [float(r["score"]) for r in rows]
    kept = int(np.argmin(scores))
    assert [r["kept"] == "True" for r in rows] == [k == kept for k in range(2)]
    # each restart is a run of its own seed: restart 0 is the single run of seed 0
    fit_run(_sine_config(tmp_path), tmp_path / "single")
    first = _weights(run / RESTARTS_DIR / "0" / CHECKPOINT_FILE)
    for name, value in _weights(tmp_path / "single" / CHECKPOINT_FILE).items():
        assert torch.equal(value, first[name])
    # the run directory holds the kept restart's weights, history and scores
    kept_dir = run / RESTARTS_DIR / str(kept)
    for name, value in _weights(kept_dir / CHECKPOINT_FILE).items():
        assert torch.equal(value, _weights(run / CHECKPOINT_FILE)[name])
    assert (run / "selection.csv").read_text() == (kept_dir / "selection.csv").read_text()
    assert (run / "history.csv").read_text() == (kept_dir / "history.csv").read_text()
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["seed"] == 0 and recorded["fit"]["restarts"] == 2
    assert [r["kept"] for r in recorded["run"]["restarts"]] == [k == kept for k in range(2)]
    assert recorded["run"]["restarts"][kept]["score"] == pytest.approx(scores[kept])
    assert cfg["run"]["restarts"] == recorded["run"]["restarts"]
    assert result.steps_done == 4
    loaded = load_run(run).model  # the other commands read the run as any other
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, result.model.state_dict()[name])


def test_a_restarts_run_is_not_resumable(tmp_path):
    run = tmp_path / "run"
    fit_run(_sine_config(tmp_path, restarts=2), run)
    message = r"cannot resume .*a fit with fit.restarts > 1 is not resumable"
    with pytest.raises(ConfigError, match=message):
        fit_run(_sine_config(tmp_path, restarts=2), run, resume=True)
    with pytest.raises(ConfigError, match=message):  # nor continued as a single run
        fit_run(_sine_config(tmp_path, restarts=1), run, resume=True)
    assert not (run / "FAILED").exists()  # a refused resume leaves the run as it was


def test_restarts_without_selection_fail_before_a_run_directory_is_left(tmp_path):
    cfg = _sine_config(tmp_path, restarts=2)
    cfg["fit"]["select"] = None
    with pytest.raises(ConfigError, match=r"fit.restarts: 2 needs fit.select"):
        fit_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()

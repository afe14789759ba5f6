"""A fit's numbers reach TensorBoard, history.csv and (off a terminal) the pyrodyn.fit log."""

from __future__ import annotations

import logging
import math
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pyrodyn.infer import fit
from pyrodyn.infer.history import StepLog, read_history, time_left
from pyrodyn.infer.loggers import TensorBoardLogger
from pyrodyn.infer.selection import KeepBest


def _scalars(log_dir):
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_gets_every_term_schedule_and_selection_score(toy_model, toy_data, tmp_path):
    scores = iter([3.0, 1.0, 2.0])
    best = KeepBest(lambda model: next(scores), every=2, start=2)
    tb = TensorBoardLogger(tmp_path / "tb", flush_every=1)
    fit(
        toy_model, toy_data, steps=6, lr=0.01, checkpoint_dir=tmp_path, callbacks=[best, tb],
        schedules={"beta": lambda i: 0.5 + 0.1 * i},
    )  # fmt: skip
    got = _scalars(tmp_path / "tb")
    history = read_history(tmp_path / "history.csv")
    assert [r["schedule.beta"] for r in history] == pytest.approx([0.5 + 0.1 * i for i in range(6)])
    for key in ("loss", "lr", "nll.x", "kl.z", "schedule.beta"):
        assert [s for s, _ in got[key]] == list(range(1, 7)), key
        assert [v for _, v in got[key]] == pytest.approx([r[key] for r in history], rel=1e-6), key
    assert got["select.score"] == [(2, 3.0), (4, 1.0), (6, 2.0)]


def test_tensorboard_missing_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install 'pyrodyn\[tensorboard\]'"):
        TensorBoardLogger(tmp_path)
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard")
    with pytest.raises(ValueError, match="flush_every must be >= 1, got 0"):
        TensorBoardLogger(tmp_path, flush_every=0)


def test_time_left_names_what_ends_the_fit():
    # 100 of 1000 steps at 10 steps/s: 90 s by steps; a 60 s budget with 20 s spent ends first
    assert time_left(100, 1000, 20.0, 10.0, None) == "1:30 left (steps)"
    assert time_left(100, 1000, 20.0, 10.0, 60.0) == "0:40 left (max_time)"
    assert time_left(100, 1000, 20.0, 10.0, 500.0) == "1:30 left (steps)"
    assert time_left(0, 100000, 0.0, 10.0, None) == "2:46:40 left (steps)"
    assert time_left(5, 10, 1.0, 0.0, None) == "time left unknown"


def test_off_a_terminal_a_line_goes_to_the_fit_logger(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pyrodyn.fit")
    log = StepLog(None, [], progress=False, total=4, initial=0, max_time=100.0, log_every=0.0)
    for step in range(1, 5):
        log.append({"step": step, "time": float(step), "lr": 1e-3, "loss": 2.0 / step,
                    "nll.x": 1.5, "schedule.beta": 0.5}, final=step == 4)  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if r.name == "pyrodyn.fit"]
    assert len(lines) == 4
    assert lines[1].startswith("step 2/4 lr 0.001 loss 1 nll.x 1.5 schedule.beta 0.5, ")
    assert lines[-1].endswith("0:00 left (steps)")


def test_lines_are_rate_limited(caplog):
    caplog.set_level(logging.INFO, logger="pyrodyn.fit")
    log = StepLog(None, [], progress=False, total=1000, initial=0, log_every=3600.0)
    for step in range(1, 1001):
        log.append({"step": step, "time": step * 1e-3, "loss": 1.0}, final=step == 1000)
    lines = [r.getMessage() for r in caplog.records if r.name == "pyrodyn.fit"]
    assert len(lines) == 1 and lines[0].startswith("step 1000/1000 loss 1")
    assert not math.isnan(float(lines[0].split(", ")[1].split()[0]))  # a steps/s figure


def test_fit_logger_tensorboard_from_the_command_line(tmp_path):
    import numpy as np
    import yaml

    from pyrodyn.app.cli import main

    np.savez(tmp_path / "d.npz", g=np.random.default_rng(0).normal(size=(10, 20, 2)))
    cfg = {
        "data": {"path": str(tmp_path / "d.npz"), "window": 10,
                 "modalities": {"g": {"likelihood": {"type": "Gaussian"}}}},
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {"steps": 3, "batch_size": 2, "progress": False, "logger": "tensorboard"},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["fit", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")]) == 0
    got = _scalars(tmp_path / "run" / "tensorboard")
    assert [s for s, _ in got["loss"]] == [1, 2, 3]
    assert main(["fit", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r2"),
                 "--set", "fit.logger=tensorbord"]) == 1  # fmt: skip

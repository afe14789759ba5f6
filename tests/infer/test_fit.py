from __future__ import annotations

import itertools
import math
import os
import time

import pytest
import torch

from pyrodyn.exceptions import NonFiniteLossError, NumericsWarning
from pyrodyn.infer import fit, linear, read_history
from pyrodyn.infer.callbacks import EarlyStopping, LambdaCallback
from pyrodyn.infer.checkpoint import load_checkpoint

from .conftest import ToyVAE, make_data


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_fit_decreases_loss(toy_model, toy_data):
    res = fit(toy_model, toy_data, steps=60, lr=5e-2, batch_size=8, window=10)
    first = sum(r["loss"] for r in res.history[:10]) / 10
    last = sum(r["loss"] for r in res.history[-10:]) / 10
    assert res.steps_done == 60 and res.stopped_reason == "steps"
    assert last < first - 0.5
    assert set(res.history[0]) >= {"step", "time", "lr", "loss", "nll.x", "kl.z"}


def test_schedules_reach_loss_kwargs(toy_model, toy_data):
    fit(toy_model, toy_data, steps=5, schedules={"beta": linear(0.2, 1.0, steps=4)})
    # first call is the warm-up evaluation at step 0, then steps 0..4
    betas = [s["beta"] for s in toy_model.seen]
    assert betas == pytest.approx([0.2, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_lr_schedule_multistep(toy_model, toy_data):
    res = fit(
        toy_model,
        toy_data,
        steps=6,
        lr=0.1,
        lr_schedule={"type": "multistep", "milestones": [2, 4], "gamma": 0.5},
    )
    assert [r["lr"] for r in res.history] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_history_csv_and_checkpoint_weights_only(toy_model, toy_data, tmp_path):
    res = fit(
        toy_model,
        toy_data,
        steps=12,
        checkpoint_dir=tmp_path,
        checkpoint_every=5,
        valid_data=make_data(trials=3, seed=1),
        valid_every=4,
        window=10,
    )
    rows = read_history(tmp_path / "history.csv")
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert [r["step"] for r in rows if "valid_loss" in r] == [4, 8, 12]
    assert rows[-1]["loss"] == pytest.approx(res.history[-1]["loss"])
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 12 and ckpt["stopped_reason"] == "steps"
    fresh = ToyVAE()
    fresh.load(tmp_path / "checkpoint.pt")
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, toy_model.state_dict()[k])


class _Kill(Exception):
    pass


def test_resume_equals_uninterrupted(tmp_path, toy_data):
    kw = dict(
        steps=20,
        lr=2e-2,
        batch_size=4,
        window=10,
        checkpoint_every=10,
        seed=3,
        lr_schedule={"type": "cosine"},
        schedules={"beta": linear(0.1, 1.0, 15)},
    )
    torch.manual_seed(0)
    full = fit(ToyVAE(), toy_data, checkpoint_dir=tmp_path / "a", **kw)

    def kill(state):
        if state.step == 13:
            raise _Kill

    torch.manual_seed(0)
    with pytest.raises(_Kill):
        fit(ToyVAE(), toy_data, checkpoint_dir=tmp_path / "b", callbacks=[kill], **kw)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 10
    torch.manual_seed(123)  # a different init: everything must come from the checkpoint
    resumed = fit(ToyVAE(), toy_data, checkpoint_dir=tmp_path / "b", resume=True, **kw)
    assert resumed.steps_done == 20
    a, b = _params(full.model), _params(resumed.model)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    rows = read_history(tmp_path / "b" / "history.csv")
    assert [r["step"] for r in rows] == list(range(1, 21))


def test_max_time_stops_cleanly(toy_model, toy_data, tmp_path):
    res = fit(toy_model, toy_data, steps=10**6, max_time=0.3, checkpoint_dir=tmp_path)
    assert res.stopped_reason == "max_time"
    assert 0 < res.steps_done < 10**6
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["step"] == res.steps_done and ckpt["stopped_reason"] == "max_time"


def test_nonfinite_rolls_back_and_halves_lr(toy_model, toy_data):
    toy_model.nan_at = {4}  # call 1 is the warm-up, so the 3rd step fails once
    with pytest.warns(NumericsWarning, match="step 3: nll.x"):
        res = fit(toy_model, toy_data, steps=6, lr=0.1)
    assert res.rollbacks == 1 and res.steps_done == 6
    assert [r["lr"] for r in res.history] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.05])
    assert all(math.isfinite(r["loss"]) for r in res.history)


def test_nonfinite_recurring_raises(toy_model, toy_data):
    toy_model.nan_at = set(range(4, 100))
    with (
        pytest.warns(NumericsWarning),
        pytest.raises(NonFiniteLossError, match=r"step 3: nll.x = nan \(3 times"),
    ):
        fit(toy_model, toy_data, steps=10)


def test_callbacks_stop_and_early_stopping(toy_model, toy_data):
    seen = []
    cb = LambdaCallback(
        on_fit_start=lambda s: seen.append("start"),
        on_fit_end=lambda s, reason: seen.append(reason),
    )
    res = fit(toy_model, toy_data, steps=50, callbacks=[cb, lambda s: s.step >= 7])
    assert res.steps_done == 7 and res.stopped_reason == "callback"
    assert seen == ["start", "callback"]
    es = EarlyStopping(monitor="loss", patience=1, min_delta=1e9)
    res = fit(ToyVAE(), toy_data, steps=50, callbacks=[es])
    assert res.steps_done == 2


def test_optimizer_choices(toy_data):
    fit(ToyVAE(), toy_data, steps=2, optimizer="radam")
    fit(ToyVAE(), toy_data, steps=2, optimizer=torch.optim.SGD)
    with pytest.raises(ValueError, match=r"unknown optimizer 'adagrad'.*adam"):
        fit(ToyVAE(), toy_data, steps=2, optimizer="adagrad")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": -1}, "steps must be a non-negative int"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"max_time": -2}, "max_time must be None or positive"),
        ({"resume": True}, "resume=True needs a checkpoint_dir"),
        ({"lr_schedule": {"type": "warp"}}, "unknown lr_schedule type 'warp'"),
    ],
)
def test_bad_arguments(toy_model, toy_data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(toy_model, toy_data, **kwargs)


def test_bad_data_type(toy_model):
    with pytest.raises(TypeError, match="data must be a MultimodalDataset"):
        fit(toy_model, {"x": torch.zeros(2, 3, 2)})


def test_resume_without_checkpoint_starts_fresh(toy_model, toy_data, tmp_path):
    res = fit(toy_model, toy_data, steps=3, checkpoint_dir=tmp_path, resume=True)
    assert res.steps_done == 3 and os.path.exists(tmp_path / "checkpoint.pt")


def test_validation_does_not_change_the_trajectory(toy_data):
    torch.manual_seed(0)
    a = fit(ToyVAE(), toy_data, steps=8, window=10)
    torch.manual_seed(0)
    b = fit(ToyVAE(), toy_data, steps=8, window=10, valid_data=make_data(3, seed=2), valid_every=3)
    for k, v in _params(a.model).items():
        assert torch.equal(v, _params(b.model)[k])
    assert [r["step"] for r in b.history if "valid_loss" in r] == [3, 6, 8]


def test_progress_bar_shows_terms(toy_model, toy_data, capsys):
    fit(toy_model, toy_data, steps=3, progress=True)
    err = capsys.readouterr().err
    assert "fit" in err and "nll.x" in err


def test_fit_on_a_batch(toy_model, toy_data):
    batch = toy_data.batch()
    res = fit(toy_model, batch, steps=3, batch_size=4)
    assert res.steps_done == 3


def test_time_clock_drives_the_lr_schedule(toy_model, toy_data, monkeypatch):
    clock = iter(range(10_000))  # every reading of the clock advances it by one second
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    kwargs = dict(steps=1000, lr=0.1, lr_schedule={"type": "cosine", "min_factor": 0.0})
    res = fit(toy_model, toy_data, max_time=40.0, schedule_clock="time", **kwargs)
    assert res.stopped_reason == "max_time"
    lrs = [r["lr"] for r in res.history]
    # the step clock would still be at 0.1 * (1 + cos(pi * step / 1000)) / 2, about 0.1
    assert lrs[-1] < 0.02 and all(b <= a for a, b in itertools.pairwise(lrs))
    with pytest.raises(ValueError, match='schedule_clock="time" needs max_time'):
        fit(ToyVAE(), toy_data, schedule_clock="time", **kwargs)

"""What the training loop promises its callers: callback state, history rows, checkpoints,
rollback bookkeeping, gradient handling and the messages it logs."""

from __future__ import annotations

import logging
import time
import warnings

import pyro
import pytest
import torch

from pyrodyn.exceptions import NonFiniteLossError, NumericsWarning
from pyrodyn.infer import Callback, fit
from pyrodyn.infer.checkpoint import CHECKPOINT_FORMAT, atomic_save, load_checkpoint
from pyrodyn.infer.fit import check_inputs, prepare_model
from pyrodyn.infer.loop import TrainingLoop
from pyrodyn.infer.options import FitOptions
from pyrodyn.infer.strategy import Strategy
from pyrodyn.infer.validation import validation_batches, validation_loss

from .conftest import FaultyVAE, ToyVAE, make_data

KW = dict(lr=1e-2, batch_size=4, window=10)


@pytest.fixture
def clock(monkeypatch):
    """A fake monotonic clock that only the test moves."""
    now = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    return now


class Recorder(Callback):
    """Copies what a callback sees; advances the fake clock by one second per step."""

    def __init__(self, clock=None):
        self.clock, self.start, self.steps, self.end = clock, None, [], None

    def on_fit_start(self, state):
        self.start = dict(
            model=state.model, optimizer=state.optimizer, step=state.step, steps=state.steps,
            history=list(state.history), history_obj=state.history, elapsed=state.elapsed,
            index=state.index, rng=torch.get_rng_state(),
        )  # fmt: skip

    def on_step_end(self, state):
        if self.clock is not None:
            self.clock[0] += 1.0
        self.steps.append((state.step, state.index, state.elapsed, state.record, state.history[-1]))

    def on_fit_end(self, state, reason):
        self.end = (reason, state.elapsed, state.step)


# ---------------------------------------------------------------------------- callbacks
def test_callbacks_see_the_state_of_the_loop(toy_data, clock):
    rec = Recorder(clock)
    model = ToyVAE()
    result = fit(model, toy_data, steps=3, callbacks=[rec], **KW)
    s = rec.start
    assert s["model"] is model and isinstance(s["optimizer"], torch.optim.Adam)
    assert (s["step"], s["steps"], s["history"], s["elapsed"], s["index"]) == (0, 3, [], 0.0, 0)
    assert s["history_obj"] is result.history
    # one fake second per step: the record's time and the state's elapsed agree
    for k, (step, index, elapsed, record, last) in enumerate(rec.steps, start=1):
        assert (step, index, elapsed) == (k, k, float(k - 1)) and record is last
        assert record["step"] == k and record["time"] == float(k - 1)
    assert rec.end == ("steps", 3.0, 3)
    assert (result.steps_done, result.stopped_reason, result.elapsed) == (3, "steps", 3.0)
    assert result.model is model and result.rollbacks == 0 and len(result.history) == 3


def test_a_resumed_fit_starts_its_callbacks_at_the_checkpoint(toy_data, clock, tmp_path):
    fit(ToyVAE(), toy_data, steps=2, checkpoint_dir=tmp_path, callbacks=[Recorder(clock)], **KW)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    rec = Recorder(clock)
    result = fit(ToyVAE(), toy_data, steps=4, checkpoint_dir=tmp_path, resume=True,
                 callbacks=[rec], **KW)  # fmt: skip
    s = rec.start
    assert (s["step"], s["steps"], s["elapsed"], s["index"]) == (2, 4, 2.0, 2)
    assert s["history"] == ckpt["history"] and len(s["history"]) == 2
    # the resumed process draws on from rank 0's stored torch stream
    assert torch.equal(s["rng"], ckpt["rng_ranks"][0]["torch"])
    assert [r[0] for r in rec.steps] == [3, 4] and result.elapsed == 4.0


def test_a_checkpoint_of_another_world_size_reseeds_by_seed_and_step(toy_data, tmp_path):
    fit(ToyVAE(), toy_data, steps=3, seed=7, checkpoint_dir=tmp_path, **KW)
    path = tmp_path / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    ckpt["rng_ranks"] = [ckpt["rng"], ckpt["rng"]]  # as if written by two processes
    atomic_save(ckpt, path)
    rec = Recorder()
    with pytest.warns(RuntimeWarning, match=r"written by 2 process\(es\) on 1"):
        fit(ToyVAE(), toy_data, steps=4, seed=7, checkpoint_dir=tmp_path, resume=True,
            callbacks=[rec], **KW)  # fmt: skip
    pyro.set_rng_seed(7 + 3)  # rank 0's seed is the run's seed, moved on by the steps done
    assert torch.equal(rec.start["rng"], torch.get_rng_state())


# ---------------------------------------------------------------------------- history rows
def test_numeric_schedule_values_are_recorded_in_the_history(toy_data):
    schedules = {
        "t": lambda i: torch.tensor(0.5 * i),
        "n": lambda i: 2,
        "flag": lambda i: True,
        "name": lambda i: "abc",
        "vec": lambda i: torch.ones(2),
    }
    result = fit(ToyVAE(), toy_data, steps=3, schedules=schedules, **KW)
    for k, row in enumerate(result.history):
        assert row["schedule.t"] == 0.5 * k and row["schedule.n"] == 2.0
        assert not {"schedule.flag", "schedule.name", "schedule.vec"} & set(row)


def test_learning_rate_rows_follow_the_schedule_and_a_zero_multiplier_freezes(toy_data):
    model = ToyVAE()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = []

    def after_first(state):
        if state.step == 1:
            frozen.extend(torch.equal(v, before[k]) for k, v in state.model.state_dict().items())

    result = fit(model, toy_data, steps=3, lr_schedule=lambda i: 0.0 if i == 0 else 0.25,
                 callbacks=[after_first], **KW)  # fmt: skip
    assert [r["lr"] for r in result.history] == [0.0, 0.25 * 1e-2, 0.25 * 1e-2]
    assert frozen and all(frozen)
    plain = fit(ToyVAE(), toy_data, steps=2, **KW)
    assert [r["lr"] for r in plain.history] == [1e-2, 1e-2]


def test_validation_rows_every_valid_every_steps_and_at_the_last(toy_data):
    valid = make_data(trials=30, seed=1)  # 90 windows: more than one validation chunk
    result = fit(ToyVAE(), toy_data, steps=5, valid_data=valid, valid_every=2,
                 schedules={"beta": lambda i: 0.5}, seed=3, **KW)  # fmt: skip
    assert [("valid_loss" in r) for r in result.history] == [False, True, False, True, True]
    # the last step validates the final model on windows, in chunks of max(batch_size, 64)
    batches = validation_batches(valid, 10, 64)
    expected = validation_loss(result.model, batches, {"beta": 0.5}, 3, torch.device("cpu"))
    assert result.history[-1]["valid_loss"] == expected


# ---------------------------------------------------------------------------- checkpoints
def test_periodic_and_final_checkpoints(toy_data, tmp_path):
    path = tmp_path / "checkpoint.pt"
    seen = []

    def peek(state):
        ckpt = load_checkpoint(path) if path.exists() else None
        seen.append(None if ckpt is None else (ckpt["step"], ckpt["stopped_reason"]))

    model = ToyVAE()
    fit(model, toy_data, steps=5, checkpoint_every=2, seed=11, config={"run": "a"},
        checkpoint_dir=tmp_path, callbacks=[peek], **KW)  # fmt: skip
    # written after the callbacks of steps 2 and 4, never at the last step but as the final one
    assert seen == [None, None, (2, None), (2, None), (4, None)]
    ckpt = load_checkpoint(path)
    assert set(ckpt) == {
        "format", "state_dict", "optimizer", "base_lrs", "generator", "rng", "rng_ranks",
        "world_size", "steps", "stopped_reason", "seed", "config", "step", "elapsed",
        "lr_factor", "bad_count", "history",
    }  # fmt: skip
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["stopped_reason"] == "steps"
    assert (ckpt["step"], ckpt["steps"], ckpt["seed"], ckpt["world_size"]) == (5, 5, 11, 1)
    assert ckpt["config"] == {"run": "a"} and ckpt["base_lrs"] == [1e-2]
    assert len(ckpt["rng_ranks"]) == 1
    assert torch.equal(ckpt["rng"]["torch"], ckpt["rng_ranks"][0]["torch"])
    for k, v in model.state_dict().items():
        assert torch.equal(ckpt["state_dict"][k], v)
    assert ckpt["optimizer"]["state"][0]["step"] == 5
    assert fit(ToyVAE(), toy_data, steps=1, checkpoint_dir=tmp_path / "b", **KW).steps_done == 1
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["config"] == {}


# ---------------------------------------------------------------------------- rollbacks
def _faulty_fit(faults, **kw):
    return fit(FaultyVAE({a: "nan" for a in faults}), make_data(), schedules={"at": float},
               **{**KW, **kw})  # fmt: skip


def test_rollbacks_halve_the_learning_rate_and_are_counted():
    with pytest.warns(NumericsWarning) as record:
        result = _faulty_fit([2, 4], steps=6, max_nonfinite=3)
    assert [str(w.message).split(";")[0] for w in record] == [
        "non-finite value at step 3: nll.x = nan",
        "non-finite value at step 5: nll.x = nan",
    ]
    assert result.rollbacks == 2 and result.steps_done == 6
    assert [r["lr"] for r in result.history] == [1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3]


def test_max_nonfinite_rollbacks_between_snapshots_raise():
    with (
        pytest.warns(NumericsWarning),
        pytest.raises(
            NonFiniteLossError, match=r"at step 5: nll.x = nan \(2 times since the last good"
        ),
    ):
        _faulty_fit([2, 4], steps=6, max_nonfinite=2)
    # a checkpoint refreshes the rollback target and restarts the count
    with pytest.warns(NumericsWarning):
        assert _faulty_fit([2, 3], steps=5, max_nonfinite=2, checkpoint_every=3).rollbacks == 2
    with pytest.warns(NumericsWarning), pytest.raises(NonFiniteLossError):
        _faulty_fit([2, 3], steps=5, max_nonfinite=2, checkpoint_every=4)


def test_the_snapshot_is_refreshed_every_25_steps():
    # faults at the attempts of steps 24 and 26: step 25 refreshes the snapshot in between
    with pytest.warns(NumericsWarning):
        assert _faulty_fit([23, 25], steps=27, max_nonfinite=2).rollbacks == 2
    with pytest.warns(NumericsWarning), pytest.raises(NonFiniteLossError):
        _faulty_fit([23, 24], steps=27, max_nonfinite=2)


def test_a_recurring_validation_error_is_the_cause_of_the_raised_error(toy_data):
    model = FaultyVAE({1: "raise"}, recurring=True)
    with pytest.raises(NonFiniteLossError) as info:
        fit(model, toy_data, steps=3, schedules={"at": float}, max_nonfinite=1, **KW)
    assert isinstance(info.value.__cause__, ValueError)


# ---------------------------------------------------------------------------- gradients
def _parameters(model):
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


@pytest.mark.parametrize("clip_norm", [1e-3, None])
def test_clip_norm_bounds_the_sgd_step(toy_data, clip_norm):
    torch.manual_seed(0)
    model = ToyVAE()
    before = _parameters(model)
    fit(model, toy_data, steps=1, optimizer="sgd", lr=1.0, clip_norm=clip_norm, batch_size=4,
        window=10)  # fmt: skip
    moved = float((_parameters(model) - before).norm())
    # plain SGD moves by lr times the gradient, whose norm clipping caps at clip_norm
    if clip_norm is None:
        assert moved > 1e-2
    else:
        assert moved == pytest.approx(clip_norm, rel=1e-4)


class PartlyUsed(ToyVAE):
    """Uses an extra parameter only in the first step's loss."""

    def __init__(self):
        super().__init__()
        self.extra = torch.nn.Parameter(torch.ones(3))

    def loss(self, batch, use: float = 0.0, **scheduled):
        total, terms = super().loss(batch, **scheduled)
        if use:
            total = total + self.extra.pow(2).sum()
        return total, terms


def test_a_parameter_without_gradient_is_not_stepped(toy_data):
    # gradients are reset to None, so Adam skips a parameter the step's loss does not use
    seen = []
    model = PartlyUsed()
    fit(model, toy_data, steps=3, schedules={"use": lambda i: float(i == 0)},
        callbacks=[lambda s: seen.append(s.model.extra.detach().clone())], **KW)  # fmt: skip
    assert not torch.equal(seen[0], torch.ones(3))
    assert torch.equal(seen[1], seen[0]) and torch.equal(seen[2], seen[0])


# ---------------------------------------------------------------------------- messages
def test_a_plain_fit_logs_one_progress_line_and_no_warning(toy_data, caplog):
    caplog.set_level(logging.INFO)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(ToyVAE(), toy_data, steps=3, progress=False, **KW)
    progress = [r.getMessage() for r in caplog.records if r.name == "pyrodyn.fit"]
    assert len(progress) == 1 and progress[0].startswith("step 3/3 ")
    loop = [r.getMessage() for r in caplog.records if r.name == "pyrodyn.infer.loop"]
    assert loop == []


def test_max_time_stop_is_logged_and_shown_in_the_bar(toy_data, caplog, capsys, clock):
    caplog.set_level(logging.INFO)
    result = fit(ToyVAE(), toy_data, steps=50, max_time=2.0, progress=True,
                 callbacks=[Recorder(clock)], **KW)  # fmt: skip
    assert result.stopped_reason == "max_time" and result.steps_done == 2
    loop = [r.getMessage() for r in caplog.records if r.name == "pyrodyn.infer.loop"]
    assert loop == ["stopped after 2 steps: max_time 2.0 s reached"]
    assert "left" in capsys.readouterr().err


def test_resume_without_a_checkpoint_is_logged_only_when_asked(toy_data, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    fit(ToyVAE(), toy_data, steps=1, checkpoint_dir=tmp_path / "a", **KW)
    assert not [r for r in caplog.records if "resume requested" in r.getMessage()]
    fit(ToyVAE(), toy_data, steps=1, checkpoint_dir=tmp_path / "b", resume=True, **KW)
    assert [r for r in caplog.records if "resume requested" in r.getMessage()]


# ---------------------------------------------------------------------------- other ranks
class Rank(Strategy):
    """A single-process stand-in for one rank of a data-parallel run."""

    def __init__(self, rank: int, divergence: float = 0.0) -> None:
        super().__init__(torch.device("cpu"))
        self.rank, self.world_size, self.final = rank, 2, divergence

    def broadcast(self, values):
        # rank 0 decides when to stop: here, once the step budget of 2 is spent
        if self.rank != 0 and len(values) == 2 and values[1] >= 2:
            return [1, int(values[1])]
        return super().broadcast(values)

    def finish(self, model) -> None:
        self.divergence = self.final


def _run_rank(strategy, data, tmp_path, **kw):
    model = ToyVAE()
    options = FitOptions(steps=2, checkpoint_dir=tmp_path, **KW, **kw)
    check_inputs(model, data, options)
    prepare_model(model, data, options, torch.device("cpu"))
    return TrainingLoop(model, data, options, strategy).run()


def test_only_rank_zero_runs_callbacks_and_writes(toy_data, tmp_path):
    rec = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = _run_rank(Rank(1, divergence=0.5), toy_data, tmp_path, checkpoint_every=1,
                           callbacks=[rec])  # fmt: skip
    assert result.steps_done == 2
    assert (rec.start, rec.steps, rec.end) == (None, [], None)
    assert not (tmp_path / "checkpoint.pt").exists()
    rec = Recorder()
    with pytest.warns(RuntimeWarning, match="fingerprint difference 0.5"):
        _run_rank(Rank(0, divergence=0.5), toy_data, tmp_path / "main", callbacks=[rec])
    assert [s[0] for s in rec.steps] == [1, 2] and rec.end[0] == "steps"
    assert (tmp_path / "main" / "checkpoint.pt").exists()


class NaNGradientAt(ToyVAE):
    """Finite loss, but a NaN gradient at the attempt with schedule index ``at == 1``."""

    def loss(self, batch, at: float = -1.0, **scheduled):
        total, terms = super().loss(batch, **scheduled)
        if int(at) == 1:
            total = total + (self.enc.weight * 0.0).sqrt().sum()  # d sqrt(0) = inf, times 0
        return total, terms


def test_a_fit_ending_on_a_rolled_back_step_leaves_no_gradients(toy_data, clock):
    def at(idx):
        clock[0] += 1.0  # each attempt takes a fake second
        return float(idx)

    model = NaNGradientAt()
    with pytest.warns(NumericsWarning, match="at step 2: gradient of "):
        result = fit(model, toy_data, steps=10, max_time=2.0, schedules={"at": at}, **KW)
    # step 2 diverged and was rolled back, then the time budget ended the fit
    assert (result.steps_done, result.rollbacks, result.stopped_reason) == (1, 1, "max_time")
    assert all(p.grad is None for p in model.parameters())

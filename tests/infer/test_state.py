"""The loop's counters round-trip through checkpoint entries; the stopwatch adds its offset."""

import time

import pytest

from pyrodyn.infer.state import LoopState, Stopwatch


def test_loop_state_checkpoint_entries_round_trip():
    history = [{"step": 1.0, "loss": 2.5}, {"step": 2.0, "loss": 2.0}]
    state = LoopState(step=7, elapsed=3.25, lr_factor=0.25, bad_count=2, history=history)
    state.rollbacks = 4
    ckpt = state.to_checkpoint()
    # rollbacks count this call only, so they are not stored
    assert ckpt == {
        "step": 7,
        "elapsed": 3.25,
        "lr_factor": 0.25,
        "bad_count": 2,
        "history": history,
    }
    back = LoopState.from_checkpoint(ckpt)
    assert (back.step, back.elapsed, back.lr_factor, back.bad_count) == (7, 3.25, 0.25, 2)
    assert back.history == history and back.rollbacks == 0
    # the restored rows are copies: the loop appends to them without touching the checkpoint
    back.history[0]["loss"] = -1.0
    assert history[0]["loss"] == 2.5


def test_loop_state_from_an_early_checkpoint_without_bad_count():
    ckpt = {"step": 3, "elapsed": 1.5, "lr_factor": 0.5, "history": []}
    state = LoopState.from_checkpoint(ckpt)
    assert (state.step, state.elapsed, state.lr_factor, state.bad_count) == (3, 1.5, 0.5, 0)
    assert state.history == []


def test_stopwatch_adds_the_offset_to_the_time_since_creation():
    now = [10.0]
    watch = Stopwatch(offset=2.5, clock=lambda: now[0])
    assert watch.read() == 2.5
    now[0] = 14.0
    assert watch.read() == 6.5
    fresh = Stopwatch(clock=lambda: now[0])
    now[0] = 15.0
    assert fresh.read() == 1.0


def test_stopwatch_defaults_to_the_monotonic_clock():
    watch = Stopwatch()
    assert watch.clock is time.perf_counter
    assert watch.read() == pytest.approx(0.0, abs=5.0)
    assert watch.read() >= 0.0

from __future__ import annotations

import math

import pytest

from pyrodyn.infer import schedules as s


def test_constant_and_linear():
    assert s.constant(0.3)(1000) == 0.3
    f = s.linear(0.0, 1.0, steps=10, delay=5)
    assert [f(i) for i in (0, 5, 10, 15, 100)] == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])


def test_cosine_and_exponential():
    f = s.cosine(1.0, 0.0, steps=10)
    assert f(0) == pytest.approx(1.0) and f(5) == pytest.approx(0.5) and f(10) == pytest.approx(0)
    g = s.exponential(1.0, 0.01, steps=2)
    assert [g(0), g(1), g(2), g(7)] == pytest.approx([1.0, 0.1, 0.01, 0.01])


def test_step_schedule_and_lr_multipliers():
    f = s.step_schedule([1.0, 0.5, 0.1], milestones=[10, 20])
    assert [f(0), f(9), f(10), f(19), f(20)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    m = s.multistep_lr([3, 6], gamma=0.1)
    assert [m(2), m(3), m(6)] == pytest.approx([1.0, 0.1, 0.01])
    c = s.cosine_lr(10, min_factor=0.1, warmup=2)
    assert c(0) == pytest.approx(0.5) and c(2) == pytest.approx(1.0)
    assert c(10) == pytest.approx(0.1)
    assert c(6) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))


def test_build_schedule_specs():
    assert s.build_schedule(0.5)(3) == 0.5
    f = s.build_schedule({"type": "linear", "start": 0.0, "end": 2.0, "steps": 4})
    assert f(2) == pytest.approx(1.0)
    assert "linear" in repr(f)
    fn = lambda step: step  # noqa: E731
    assert s.build_schedule(fn) is fn
    assert s.build_lr_schedule({"type": "cosine"}, steps=4)(4) == pytest.approx(0.0)
    assert s.build_lr_schedule(None, steps=4) is None


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: s.linear(0, 1, steps=0), "steps must be >= 1"),
        (lambda: s.linear(0, 1, steps=3, delay=-1), "delay must be >= 0"),
        (lambda: s.exponential(0, 1, steps=3), "start and end must be positive"),
        (lambda: s.step_schedule([1.0], [3]), r"len\(values\) == len\(milestones\) \+ 1"),
        (lambda: s.step_schedule([1, 2, 3], [5, 5]), "increase strictly"),
        (lambda: s.build_schedule({"type": "zigzag"}), "unknown schedule type 'zigzag'"),
        (lambda: s.build_schedule({"type": "linear", "begin": 0}), "it accepts"),
        (lambda: s.build_lr_schedule({"type": "step"}, steps=3), "unknown lr_schedule type"),
        (lambda: s.constant(math.inf), "constant: value must be finite, got inf"),
        (lambda: s.linear(math.nan, 1, steps=3), "linear: start must be finite, got nan"),
        (lambda: s.cosine(1, -math.inf, steps=3), "cosine: end must be finite, got -inf"),
        (lambda: s.exponential(1, math.inf, steps=3), "exponential: end must be finite, got inf"),
        (lambda: s.step_schedule([1, math.nan], [3]), r"values\[1\] must be finite, got nan"),
        (lambda: s.multistep_lr([3], gamma=math.nan), "gamma must be finite and > 0, got nan"),
        (lambda: s.multistep_lr([3], gamma=-0.1), "gamma must be finite and > 0, got -0.1"),
        (lambda: s.cosine_lr(5, min_factor=math.inf), "min_factor must be finite, got inf"),
        (
            lambda: s.build_schedule({"type": "linear", "start": 0, "end": math.inf, "steps": 2}),
            "linear: end must be finite, got inf",
        ),
    ],
)
def test_bad_schedules(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_schedule_types():
    with pytest.raises(TypeError, match="a schedule must be"):
        s.build_schedule("linear")
    with pytest.raises(TypeError, match="a schedule must be"):
        s.build_schedule(True)


def test_schedule_index_step_and_time_clocks():
    assert s.schedule_index("steps", 7, 100, elapsed=50.0, elapsed0=0.0, max_time=60.0) == 7
    # time clock: the larger of the step and steps * fraction of the budget, at most steps - 1
    assert s.schedule_index("time", 7, 100, elapsed=30.0, elapsed0=0.0, max_time=60.0) == 50
    assert s.schedule_index("time", 70, 100, elapsed=30.0, elapsed0=0.0, max_time=60.0) == 70
    assert s.schedule_index("time", 7, 100, elapsed=90.0, elapsed0=0.0, max_time=60.0) == 99
    # a resumed run: the budget is what was done before plus this call's max_time
    assert s.schedule_index("time", 7, 100, elapsed=40.0, elapsed0=20.0, max_time=60.0) == 50


def test_check_clock_errors():
    s.check_clock("time", 10.0)
    with pytest.raises(ValueError, match="schedule_clock must be one of"):
        s.check_clock("epochs", None)
    with pytest.raises(ValueError, match='schedule_clock="time" needs max_time'):
        s.check_clock("time", None)

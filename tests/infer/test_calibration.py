"""TimeScaleCalibration: recovers a known speed factor, keeps the weights' format, fails loudly."""

from __future__ import annotations

import copy
import logging
import math

import numpy as np
import pytest
import torch
from torch import nn

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.dynamics.base import DynamicsModel, LinearDynamics
from pyrodyn.infer.calibration import TimeScaleCalibration
from pyrodyn.infer.selection import FreeRunScore

THETA = 0.2


class _Rotor(nn.Module):
    """A 2-D rotation by ``THETA`` per step; free runs stay on the unit circle (a test double)."""

    def __init__(self) -> None:
        super().__init__()
        self.dynamics = LinearDynamics(2)
        c, s = math.cos(THETA), math.sin(THETA)
        with torch.no_grad():
            self.dynamics.A.copy_(torch.tensor([[c, -s], [s, c]]))
        self.nan = False

    def generate(self, num_steps, *, init=None, burn_in=0, num_trials=1, prediction="default"):
        z, rows = torch.tensor([1.0, 0.0]), []
        for _ in range(burn_in + num_steps):
            z = self.dynamics.step(z)
            z = z / z.norm()
            rows.append(z)
        x = torch.stack(rows[burn_in:]).detach()
        if self.nan:
            x = x * math.nan
        return {"x": x.expand(num_trials, -1, -1)}


def _recording(factor: float, steps: int = 3000) -> MultimodalDataset:
    rotor = _Rotor()
    rotor.dynamics.scale_increment(factor)
    return MultimodalDataset({"x": rotor.generate(steps)["x"][0].numpy()})


def _score(data: MultimodalDataset) -> FreeRunScore:
    return FreeRunScore(
        data, "x", steps=2500, burn_in=0, window=10, weights={"d_h": 1.0},
        options={"d_h": {"sigma": 1.0}},
    )  # fmt: skip


def test_calibration_recovers_the_speed_of_the_recording(tmp_path):
    model = _Rotor()
    before = copy.deepcopy(model.dynamics)
    cal = TimeScaleCalibration(
        _score(_recording(1.1)), [0.9, 0.95, 1.05, 1.1, 1.15], refine=1,
        path=tmp_path / "calibration.csv",
    )  # fmt: skip
    assert cal.factors == [0.9, 0.95, 1.0, 1.05, 1.1, 1.15] and cal.num_scores == 8
    assert cal.calibrate(model) == pytest.approx(1.1)
    assert len(cal.scores) == 8  # the grid, then 1.075 and 1.125 around the best
    assert {round(f, 4) for f, _ in cal.scores[-2:]} == {1.075, 1.125}
    expected = copy.deepcopy(before)
    expected.scale_increment(1.1)
    assert torch.allclose(model.dynamics.A, expected.A)  # folded into the weights, once
    scores = dict(cal.scores)
    assert scores[1.1] == min(scores.values()) < scores[1.0]
    rows = np.genfromtxt(tmp_path / "calibration.csv", delimiter=",", names=True)
    assert rows["factor"].tolist() == pytest.approx([f for f, _ in cal.scores], abs=1e-6)
    assert rows["score"].tolist() == pytest.approx([s for _, s in cal.scores])


def test_calibration_keeps_the_learned_speed_when_it_is_best():
    model = _Rotor()
    a = model.dynamics.A.detach().clone()
    cal = TimeScaleCalibration(_score(_recording(1.0)), [0.95, 1.05], refine=0)
    assert cal.calibrate(model) == 1.0 and cal.best_factor == 1.0
    assert torch.equal(model.dynamics.A, a)


def test_calibration_without_finite_scores_keeps_the_weights(caplog):
    model = _Rotor()
    model.nan = True
    a = model.dynamics.A.detach().clone()
    cal = TimeScaleCalibration(_score(_recording(1.0)), [0.95, 1.05], refine=2)
    with caplog.at_level(logging.WARNING, logger="pyrodyn.fit"):
        assert cal.calibrate(model) == 1.0
    assert "no finite score; keeping the learned speed" in caplog.text
    assert torch.equal(model.dynamics.A, a)
    assert all(s == math.inf for _, s in cal.scores)


def test_calibration_needs_a_model_with_dynamics():
    cal = TimeScaleCalibration(_score(_recording(1.0)), [1.05], refine=0)
    with pytest.raises(
        TypeError, match="needs a model with a `dynamics` DynamicsModel, got Linear"
    ):
        cal.calibrate(nn.Linear(2, 2))

    class _Tanh(DynamicsModel):
        def __init__(self):
            super().__init__(2)

        def step(self, z, u=None):
            return torch.tanh(z)

    model = _Rotor()
    model.dynamics = _Tanh()
    with pytest.raises(NotImplementedError, match="_Tanh cannot rescale its increment"):
        cal.calibrate(model)


@pytest.mark.parametrize(
    ("factors", "refine", "match"),
    [
        ([1.0], 1, "factors must hold at least one value besides 1.0"),
        ([0.99, -1.0], 1, "the increment factor must be positive and finite, got -1.0"),
        ([0.99, 1.01], -1, "refine must be an integer >= 0, got -1"),
        ([0.99, 1.01], 0.5, "refine must be an integer >= 0, got 0.5"),
        ([0.99, 1.01], True, "refine must be an integer >= 0, got True"),
    ],
)
def test_calibration_bad_arguments(factors, refine, match):
    with pytest.raises(ValueError, match=match):
        TimeScaleCalibration(_score(_recording(1.0, 200)), factors, refine=refine)

"""pyrodyn.models.mtf.ridge_draws: the free-run score of a fit and the choice among draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyrodyn.dynamics import ClippedShallowPLRNN
from pyrodyn.metrics.power_spectrum import d_h
from pyrodyn.metrics.state_space import d_stsp
from pyrodyn.models.mtf.ridge_draws import BURN_IN, best_draw, free_runs, run_score


def _score(x_true, x_gen):
    return d_stsp(x_true, x_gen) + d_h(x_true, x_gen, sigma=1.0)


def _own_run_score(dyn, start, target, residual, steps, generator):
    """The map's own free run scored against the last ``steps`` rows of ``target``."""
    (run,) = free_runs(dyn, [dyn.state_dict()], start, steps)
    return run_score(run, target[-steps:], residual, generator, _score)


def _rotation(angle: float = 0.3) -> ClippedShallowPLRNN:
    """A 2-unit map that is exactly a rotation within |z| < 5 (linear unit pairs)."""
    dyn = ClippedShallowPLRNN(2, hidden_dim=4).double()
    c, s = math.cos(angle), math.sin(angle)
    with torch.no_grad():
        dyn.a.zero_()
        dyn.W2.copy_(torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]]))
        dyn.h2.fill_(5.0)
        # the clipped pair (+e_j, -e_j) with h2 = 5: its first unit minus its second is z_j for
        # |z_j| < 5, so W1 = [R, -R] interleaved applies the rotation R
        dyn.W1.copy_(torch.tensor([[c, -c, -s, s], [s, -s, c, -c]]))
        dyn.h1.zero_()
    return dyn


def test_score_is_d_stsp_plus_d_h_of_the_noisy_run():
    dyn = _rotation()
    start = torch.tensor([1.0, 0.0], dtype=torch.float64)
    steps = 500
    target = torch.tensor(
        [[math.cos(0.3 * t), math.sin(0.3 * t)] for t in range(2000)], dtype=torch.float64
    )
    residual = torch.tensor([0.05, 0.02], dtype=torch.float64)
    score = _own_run_score(dyn, start, target, residual, steps, torch.Generator().manual_seed(3))
    # the same run by hand: rotate, drop the burn-in, add the same noise
    t = np.arange(1, BURN_IN + steps + 1)[BURN_IN:]
    run = np.stack([np.cos(0.3 * t), np.sin(0.3 * t)], 1)
    noise = torch.randn(steps, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    run = run + (noise * residual).numpy()
    x_true = target[-steps:].numpy()
    expected = d_stsp(x_true, run) + d_h(x_true, run, sigma=1.0)
    assert score == pytest.approx(expected, rel=1e-4)  # 1500 composed rotations vs cos, sin


def test_a_diverging_run_scores_inf():
    dyn = _rotation()
    with torch.no_grad():
        dyn.a.fill_(2.0)  # doubles every step: inf after about 1024 steps
    target = torch.randn(300, 2, dtype=torch.float64)
    start = torch.ones(2, dtype=torch.float64)
    score = _own_run_score(dyn, start, target, torch.zeros(2), 200, torch.Generator())
    assert score == math.inf


def test_best_draw_keeps_the_lowest_score_and_its_residual():
    dyn = _rotation()
    target = torch.tensor(
        [[math.cos(0.3 * t), math.sin(0.3 * t)] for t in range(2000)], dtype=torch.float64
    )
    angles = iter([0.6, 0.3, 0.45])  # the data's angle is the second draw's
    seen = []

    def fit():
        angle = next(angles)
        fitted = _rotation(angle)
        dyn.load_state_dict(fitted.state_dict())
        seen.append(angle)
        return torch.full((2,), angle / 100, dtype=torch.float64)

    start = torch.tensor([1.0, 0.0], dtype=torch.float64)
    residual, scores = best_draw(dyn, fit, start, target, 3, 1000, torch.Generator(), _score)
    assert seen == [0.6, 0.3, 0.45] and len(scores) == 3
    assert int(np.argmin(scores)) == 1 and all(np.isfinite(scores))
    torch.testing.assert_close(residual, torch.full((2,), 0.003, dtype=torch.float64))
    torch.testing.assert_close(dyn.state_dict()["W1"], _rotation(0.3).state_dict()["W1"])

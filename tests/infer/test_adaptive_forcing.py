import math

import numpy as np
import pytest
import torch
from torch import nn

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.dynamics import PLRNN, ClippedDendPLRNN
from pyrodyn.dynamics.forcing import AdaptiveForcingAlpha
from pyrodyn.infer import FitState, fit
from pyrodyn.infer.adaptive_forcing import AdaptiveForcingUpdate
from pyrodyn.infer.schedules import constant
from pyrodyn.likelihoods import Gaussian
from pyrodyn.models.mtf import MTF

# PLRNN weights (A = diag, W = off-diagonal); the Jacobian scales linearly with them
BASE = torch.tensor([[0.2, 1.0, -0.5], [0.8, 0.1, 0.6], [-0.4, 0.9, 0.3]])


def _states() -> torch.Tensor:
    """Three trials whose Jacobian norms vary over time, chosen so that the geometric and the
    arithmetic mean over time pick different trials as the maximum."""
    g = torch.Generator().manual_seed(0)
    t = 12
    alternating = 3 * torch.tensor([1.0, -1.0]).repeat(t // 2)[:, None].expand(t, 3)
    mostly_one = torch.tensor([-1.0, -1.0, 1.0]).repeat(t, 1)
    mostly_one[::6] = -2.0
    negative = torch.full((t, 3), -2.0)
    x = torch.stack([alternating, mostly_one, negative])
    return x + 0.05 * torch.randn(x.shape, generator=g)


class Forced(nn.Module):
    """A stand-in teacher-forced model: its latent states are the observations themselves."""

    def __init__(self) -> None:
        super().__init__()
        self.dynamics = PLRNN(3, mean_centering=False)
        self.seen: list[tuple[bool, bool]] = []

    def teacher_states(self, batch):
        self.seen.append((self.training, torch.is_grad_enabled()))
        torch.randn(5)  # as MTF's unforced units: must not move the training RNG
        return batch.obs["x"]


def reference_growth(dynamics, trials: torch.Tensor) -> float:
    """G from autograd Jacobians and numpy spectral norms: geometric mean over time, max over
    trials (Hess et al. 2023)."""
    per_trial = []
    for seq in trials.double():
        logs = []
        for z in seq:
            jac = torch.autograd.functional.jacobian(lambda v: dynamics.double().step(v), z)
            logs.append(math.log(np.linalg.norm(jac.numpy(), 2)))
        per_trial.append(math.exp(np.mean(logs)))
    dynamics.float()
    return max(per_trial)


def _state(model, step):
    return FitState(model=model, optimizer=None, step=step, steps=100)


def test_update_is_max_of_estimate_and_decay():
    x = _states()
    model = Forced()
    alpha = AdaptiveForcingAlpha(gamma=0.8, initial=1.0)
    # window None: whole trials; 64 draws with replacement cover the three trials
    cb = AdaptiveForcingUpdate(
        alpha, MultimodalDataset({"x": x}), every=2, batch_size=64, window=None
    )
    cb.on_fit_start(_state(model, 0))
    expected = 1.0
    branches = []
    for step, scale in [(1, 1.0), (2, 2.8), (3, 10.0), (4, 10.0), (6, 2.8)]:
        with torch.no_grad():
            model.dynamics.AW.copy_(scale * BASE)
        cb.on_step_end(_state(model, step))
        if step % 2 == 0:
            estimate = 1.0 - 1.0 / reference_growth(model.dynamics, x)
            branches.append(estimate > 0.8 * expected)
            expected = max(estimate, 0.8 * expected)
        assert alpha(step) == pytest.approx(expected, rel=1e-5), step
    # decay, estimate, decay: both sides of the max were checked
    assert branches == [False, True, False]
    assert [s for s, _ in cb.updates] == [2, 4, 6]
    assert model.seen == [(False, False)] * 3  # eval mode, no gradients
    assert model.training  # mode restored


def test_update_leaves_training_streams_alone():
    model = Forced()
    cb = AdaptiveForcingUpdate(
        AdaptiveForcingAlpha(), MultimodalDataset({"x": _states()}), every=1, window=4
    )
    torch.manual_seed(5)
    cb.on_step_end(_state(model, 1))
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(3))


def _mtf(k=2, m=3):
    return MTF({"x": Gaussian(2)}, ClippedDendPLRNN(m, num_bases=2), k, tau=3)


def _series(trials=4, steps=60):
    t = np.arange(steps) * 0.2
    x = np.stack([np.sin(t), np.cos(t)], -1)[None] + 0.1 * np.random.default_rng(0).normal(
        size=(trials, steps, 2)
    )
    return MultimodalDataset({"x": torch.tensor(x, dtype=torch.float32)})


def test_mtf_teacher_states_are_encoder_means_and_carried_units():
    data = _series()
    model = _mtf()
    batch = data.batch([0, 1], start=torch.tensor([0, 5]), window=10)
    torch.manual_seed(0)
    states = model.teacher_states(batch)
    assert states.shape == (2, 10, 3) and model.training
    torch.testing.assert_close(states[..., :2], model.encode(batch)["latent"])
    # the unforced unit follows the map from the forced state of the step before
    torch.testing.assert_close(states[:, 1:, 2:], model.dynamics.step(states[:, :-1])[..., 2:])


def test_fit_updates_every_steps_and_history_shows_alpha():
    data = _series()
    alpha = AdaptiveForcingAlpha(gamma=0.5, initial=1.0)
    cb = AdaptiveForcingUpdate(alpha, data, every=3, batch_size=4, window=12, seed=1)
    torch.manual_seed(0)
    res = fit(
        _mtf(), data, steps=7, batch_size=4, window=12, schedules={"alpha": alpha}, callbacks=[cb]
    )
    assert [s for s, _ in cb.updates] == [3, 6]
    used = [r["schedule.alpha"] for r in res.history]
    a3, a6 = cb.updates[0][1], cb.updates[1][1]
    assert used == [1.0, 1.0, 1.0, a3, a3, a3, a6]
    assert a3 < 1.0  # 0.5 decay at least, so the forcing became generalized


def test_constant_alpha_fit_is_unchanged_by_the_callback():
    """With gamma = 1 alpha stays 1: the fit must equal one without the callback, bit for bit
    (the callback's draws leave the batch stream and the global RNG alone)."""
    data = _series()
    kw = dict(steps=6, batch_size=4, window=12)
    torch.manual_seed(0)
    plain = fit(_mtf(), data, schedules={"alpha": constant(1.0)}, **kw)
    alpha = AdaptiveForcingAlpha(gamma=1.0, initial=1.0)
    torch.manual_seed(0)
    cb = AdaptiveForcingUpdate(alpha, data, every=2, batch_size=4, window=12)
    adaptive = fit(_mtf(), data, schedules={"alpha": alpha}, callbacks=[cb], **kw)
    assert len(cb.updates) == 3
    assert [r["loss"] for r in adaptive.history] == [r["loss"] for r in plain.history]


def test_resume_continues_alpha(tmp_path):
    class _Kill(Exception):
        pass

    data = _series()

    def run(path, callbacks=(), resume=False):
        alpha = AdaptiveForcingAlpha(gamma=0.7, initial=1.0)
        cb = AdaptiveForcingUpdate(alpha, data, every=2, batch_size=4, window=12)
        torch.manual_seed(0)
        return fit(
            _mtf(),
            data,
            steps=8,
            batch_size=4,
            window=12,
            schedules={"alpha": alpha},
            callbacks=[cb, *callbacks],
            checkpoint_dir=path,
            checkpoint_every=4,
            resume=resume,
        )

    full = run(tmp_path / "a")

    def kill(state):
        if state.step == 6:
            raise _Kill

    with pytest.raises(_Kill):
        run(tmp_path / "b", [kill])
    resumed = run(tmp_path / "b", resume=True)
    key = "schedule.alpha"
    assert [r[key] for r in resumed.history] == [r[key] for r in full.history]
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    assert len({r[key] for r in full.history}) > 2


def test_bad_arguments_raise():
    data = _series()
    alpha = AdaptiveForcingAlpha()
    with pytest.raises(TypeError, match="alpha must be an AdaptiveForcingAlpha, got float"):
        AdaptiveForcingUpdate(0.5, data)
    with pytest.raises(TypeError, match="data must be a MultimodalDataset"):
        AdaptiveForcingUpdate(alpha, data.data["x"])
    with pytest.raises(ValueError, match="every must be an int >= 1, got 0"):
        AdaptiveForcingUpdate(alpha, data, every=0)
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got 2\.5"):
        AdaptiveForcingUpdate(alpha, data, batch_size=2.5)
    with pytest.raises(ValueError, match="window must be None or an int >= 2, got 1"):
        AdaptiveForcingUpdate(alpha, data, window=1)
    static = MultimodalDataset({"x": torch.randn(5, 2)}, static=True)
    with pytest.raises(ValueError, match="needs sequences; the data are static"):
        AdaptiveForcingUpdate(alpha, static)


def test_model_without_teacher_states_raises_at_fit_start():
    cb = AdaptiveForcingUpdate(AdaptiveForcingAlpha(), _series())
    with pytest.raises(TypeError, match=r"Linear lacks a `dynamics` attribute .* and a method"):
        cb.on_fit_start(_state(nn.Linear(2, 2), 0))

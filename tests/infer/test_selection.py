from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from torch import nn

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.infer import fit
from pyrodyn.infer.callbacks import FitState, LambdaCallback
from pyrodyn.infer.checkpoint import load_checkpoint
from pyrodyn.infer.selection import SELECTION_FILE, FreeRunScore, KeepBest
from pyrodyn.metrics.power_spectrum import d_h
from pyrodyn.metrics.state_space import d_stsp


def _weight(model) -> torch.Tensor:
    return model.decoder.state_dict()["heads.loc.weight"].clone()


def test_keep_best_restores_and_checkpoints_the_best_weights(toy_model, toy_data, tmp_path):
    # scores: step 2 -> 3.0, 4 -> 1.0 (best), 6 -> 2.0, 8 -> nan; the final step 9 -> 5.0
    table = {2: 3.0, 4: 1.0, 6: 2.0, 8: math.nan, 9: 5.0}
    seen, kept = [], {}

    def score(model):
        step = len(seen) * 2 + 2 if len(seen) < 4 else 9
        seen.append(step)
        kept[step] = _weight(model)
        return table[step]

    cb = KeepBest(score, every=2, start=2, path=tmp_path / SELECTION_FILE)
    res = fit(toy_model, toy_data, steps=9, lr=0.05, callbacks=[cb], checkpoint_dir=tmp_path)
    assert seen == [2, 4, 6, 8, 9]
    assert cb.best_step == 4 and cb.best_score == 1.0
    assert not torch.equal(kept[4], kept[9])  # training moved the weights after step 4
    assert torch.equal(_weight(res.model), kept[4])
    saved = load_checkpoint(tmp_path / "checkpoint.pt")["state_dict"]
    assert torch.equal(saved["decoder.heads.loc.weight"], kept[4])
    rows = np.genfromtxt(tmp_path / SELECTION_FILE, delimiter=",", names=True)
    assert rows["step"].tolist() == [2, 4, 6, 8, 9]
    assert np.isnan(rows["score"][3]) and rows["score"][1] == 1.0


def test_keep_best_without_finite_scores_keeps_final_weights(toy_model, toy_data, caplog):
    cb = KeepBest(lambda m: math.inf, every=1)
    with caplog.at_level(logging.WARNING, logger="pyrodyn.infer.selection"):
        res = fit(toy_model, toy_data, steps=3, lr=0.05, callbacks=[cb])
    assert cb.best_step is None and len(cb.scores) == 3
    assert res.steps_done == 3 and "no finite score" in caplog.text


def test_keep_best_ignores_steps_before_start(toy_model, toy_data):
    cb = KeepBest(lambda m: 1.0, every=1, start=4)
    fit(toy_model, toy_data, steps=5, callbacks=[cb])
    assert [s for s, _ in cb.scores] == [4, 5] and cb.best_step == 4


def _state(model, step: int, index: int) -> FitState:
    return FitState(model=model, optimizer=None, step=step, steps=100, index=index)


def test_keep_best_schedule_clock_follows_the_index_not_the_steps(toy_model):
    # the time clock's index jumps and stalls; a score is taken once per multiple of `every`
    cb = KeepBest(lambda m: 1.0, every=5, start=5, clock="schedule")
    cb.on_fit_start(_state(toy_model, 0, 0))
    for step, index in enumerate([0, 3, 3, 7, 8, 12, 12, 13, 30, 31], start=1):
        cb.on_step_end(_state(toy_model, step, index))
    assert [s for s, _ in cb.scores] == [4, 6, 9]  # indices 7 (>= 5), 12 (>= 10), 30 (>= 15)
    cb.on_fit_end(_state(toy_model, 10, 31), "max_time")
    assert [s for s, _ in cb.scores] == [4, 6, 9, 10]


def test_keep_best_schedule_clock_before_start_keeps_the_final_weights(toy_model, caplog):
    cb = KeepBest(lambda m: 1.0, every=5, start=50, clock="schedule")
    cb.on_fit_start(_state(toy_model, 0, 0))
    cb.on_step_end(_state(toy_model, 60, 49))  # many steps, but the budget index is short
    with caplog.at_level(logging.INFO, logger="pyrodyn.infer.selection"):
        cb.on_fit_end(_state(toy_model, 61, 49), "max_time")
    assert cb.scores == [] and "no schedule index reached start=50" in caplog.text


def test_keep_best_schedule_clock_equals_steps_on_the_step_clock(toy_model, toy_data):
    seen = {}
    for clock in ("steps", "schedule"):
        cb = KeepBest(lambda m: 1.0, every=2, start=3, clock=clock)
        torch.manual_seed(0)
        fit(toy_model, toy_data, steps=9, callbacks=[cb])
        seen[clock] = [s for s, _ in cb.scores]
    assert seen["steps"] == seen["schedule"] == [4, 6, 8, 9]


def test_keep_best_average_scores_and_keeps_the_moving_average(toy_model, toy_data):
    # the average after step k is 0.75 * avg + 0.25 * w_k (avg = w_1 after the first step);
    # the score sees that average, training goes on from the live weights, the kept one is it
    decay, live, after, seen = 0.75, [], [], {}
    record = LambdaCallback(on_step_end=lambda s: live.append(_weight(s.model)))
    check = LambdaCallback(on_step_end=lambda s: after.append(_weight(s.model)))

    def score(model):
        seen[len(live)] = _weight(model)
        return {3: 2.0, 6: 1.0}.get(len(live), 3.0)

    cb = KeepBest(score, every=3, start=3, average=decay)
    res = fit(toy_model, toy_data, steps=8, lr=0.05, callbacks=[record, cb, check])
    avg, expected = live[0].clone(), {}
    for k, w in enumerate(live[1:], start=2):
        avg = decay * avg + (1 - decay) * w
        expected[k] = avg.clone()
    assert sorted(seen) == [3, 6, 8]
    for k in seen:
        torch.testing.assert_close(seen[k], expected[k])
        assert not torch.allclose(seen[k], live[k - 1])  # the average, not the live weights
    assert all(torch.equal(a, b) for a, b in zip(live, after, strict=True))  # live untouched
    assert cb.best_step == 6
    torch.testing.assert_close(_weight(res.model), expected[6])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"score": 3.0}, "score must be a callable"),
        ({"every": 0}, "every must be >= 1"),
        ({"start": -1}, "start must be >= 0"),
        ({"clock": "time"}, r"clock must be one of \('steps', 'schedule'\)"),
        ({"average": 1.0}, r"average must be a decay in \(0, 1\) or None, got 1.0"),
        ({"average": 0}, r"average must be a decay in \(0, 1\) or None, got 0"),
    ],
)
def test_keep_best_bad_arguments(kwargs, match):
    args = {"score": lambda m: 0.0, **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        KeepBest(args.pop("score"), **args)


def _lorenz_like(steps: int = 3000) -> np.ndarray:
    t = np.arange(steps) * 0.05
    return np.stack([np.sin(t), np.cos(1.3 * t), np.sin(0.7 * t) * np.cos(t)], -1)


class _Replay(nn.Module):
    """Stand-in generator returning a fixed trajectory (not a model: a reference for the score)."""

    def __init__(self, traj: np.ndarray) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))
        self.traj = torch.as_tensor(traj)
        self.calls: list[dict] = []

    def generate(self, num_steps, *, init=None, burn_in=0, num_trials=1, **_):
        self.calls.append(
            {"num_steps": num_steps, "burn_in": burn_in, "init": init, "trials": num_trials}
        )
        torch.randn(5)  # must not disturb the caller's random stream
        # trial i replays the trajectory shifted by i steps
        rows = [self.traj[i + burn_in : i + burn_in + num_steps] for i in range(num_trials)]
        return {"x": torch.stack(rows)}


def test_free_run_score_matches_metrics_and_isolates_rng():
    ref = _lorenz_like()
    data = MultimodalDataset({"x": ref})
    gen = np.roll(ref, 7, axis=0) * 1.1
    model = _Replay(gen)
    score = FreeRunScore(
        data, "x", steps=2000, burn_in=500, window=50, options={"d_h": {"sigma": 2.0}}
    )
    torch.manual_seed(3)
    expected_next = torch.randn(1)
    torch.manual_seed(3)
    metrics = score.metrics(model)
    assert torch.equal(torch.randn(1), expected_next)
    x = gen[500:2500]
    assert metrics["d_stsp"] == pytest.approx(d_stsp(ref, x))
    assert metrics["d_h"] == pytest.approx(d_h(ref, x, sigma=2.0))
    assert score(model) == pytest.approx(metrics["d_stsp"] + metrics["d_h"])
    call = model.calls[0]
    assert (call["num_steps"], call["burn_in"]) == (2000, 500)
    assert call["init"].num_steps == 50
    only_h = FreeRunScore(data, "x", steps=2000, weights={"d_h": 2.0, "d_stsp": 0.0})
    assert only_h(model) == pytest.approx(2 * d_h(ref, gen[1000:3000]))


def test_free_run_score_pools_several_runs():
    ref = _lorenz_like(4000)
    data = MultimodalDataset({"x": ref})
    gen = np.roll(ref, 11, axis=0) * 0.9
    model = _Replay(gen)
    score = FreeRunScore(data, "x", steps=1500, burn_in=100, window=40, trials=3)
    metrics = score.metrics(model)
    runs = [gen[i + 100 : i + 1600] for i in range(3)]
    assert metrics["d_stsp"] == pytest.approx(d_stsp(ref, np.concatenate(runs)))
    assert metrics["d_h"] == pytest.approx(np.mean([d_h(ref, r) for r in runs]))
    init = model.calls[0]["init"]
    assert model.calls[0]["trials"] == 3 and init.num_sequences == 3
    # windows spread evenly over the recording: starts 0, (4000 - 40) / 2, 4000 - 40
    assert torch.equal(init.obs["x"][2], torch.as_tensor(ref[3960:4000], dtype=torch.float32))


class _ByPrediction(_Replay):
    """Replays ``traj`` for ``prediction="mean"`` and a constant series for anything else."""

    def generate(self, num_steps, *, init=None, burn_in=0, num_trials=1, prediction="default"):
        self.calls.append({"prediction": prediction})
        traj = self.traj if prediction == "mean" else torch.zeros_like(self.traj)
        return {"x": traj[burn_in : burn_in + num_steps].expand(num_trials, -1, -1)}


def test_free_run_score_compares_the_chosen_prediction():
    ref = _lorenz_like()
    gen = np.roll(ref, 5, axis=0)
    model = _ByPrediction(gen)
    kw = {"steps": 1500, "burn_in": 200, "window": 30}
    mean = FreeRunScore(MultimodalDataset({"x": ref}), "x", prediction="mean", **kw)
    x = gen[200:1700]
    assert mean(model) == pytest.approx(d_stsp(ref, x) + d_h(ref, x))
    default = FreeRunScore(MultimodalDataset({"x": ref}), "x", **kw)
    assert default(model) > mean(model) + 1.0  # the constant series is far off
    assert [c["prediction"] for c in model.calls] == ["mean", "default", "mean"]


def test_free_run_score_diverged_run_is_inf():
    ref = _lorenz_like()
    bad = ref.copy()
    bad[1500] = np.nan
    score = FreeRunScore(MultimodalDataset({"x": ref}), "x", steps=1000, burn_in=1000)
    assert score(_Replay(bad)) == math.inf


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"modality": "y"}, "modality 'y' is not in the data"),
        ({"weights": {"pe": 1.0}}, "weights must name metrics"),
        ({"weights": {"d_h": -1.0}}, "weights must be finite and >= 0"),
        ({"options": {"lyap": {}}}, "options must name metrics"),
        ({"steps": 1}, "need steps >= 2"),
        ({"trials": 0}, "trials >= 1"),
        (
            {"prediction": "draw"},
            r"prediction must be one of \('default', 'mean', 'mode', 'sample'\)",
        ),
    ],
)
def test_free_run_score_bad_arguments(kwargs, match):
    data = MultimodalDataset({"x": _lorenz_like(100)})
    args = {"modality": "x", **kwargs}
    with pytest.raises(ValueError, match=match):
        FreeRunScore(data, args.pop("modality"), **args)


def test_free_run_score_needs_sequences():
    data = MultimodalDataset({"x": np.zeros((5, 3))}, static=True)
    with pytest.raises(ValueError, match="needs sequences"):
        FreeRunScore(data, "x")


def test_free_run_score_sample_prediction_is_passed_on_and_reproducible(tmp_path):
    from pyrodyn.app.fitrun import fit_run
    from pyrodyn.app.rundir import load_run

    from ..app.conftest import sine_mtf

    fit = {"steps": 2, "batch_size": 4}
    x, cfg = sine_mtf(tmp_path, 300, latent_dim=2, fit=fit)
    fit_run(cfg, tmp_path / "run")
    model = load_run(tmp_path / "run").model
    data = MultimodalDataset({"x": x})
    kw = {"steps": 400, "burn_in": 10, "window": 20, "weights": {"d_stsp": 1.0}}
    sample = FreeRunScore(data, "x", prediction="sample", **kw)
    mean = FreeRunScore(data, "x", prediction="mean", **kw)
    # the observation noise is drawn inside the score's own random stream: same score twice
    assert sample(model) == sample(model) != mean(model)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        noisy = model.generate(400, init=sample.init, burn_in=10, prediction="sample")["x"]
        clean = model.generate(400, init=sample.init, burn_in=10, prediction="mean")["x"]
    assert not torch.allclose(noisy, clean)  # the draws carry the learned noise

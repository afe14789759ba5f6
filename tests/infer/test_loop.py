"""The shared training loop: resume after rollbacks and on the time clock, divergence handling,
data-dependent initialisation, module-local parameters."""

from __future__ import annotations

import inspect
import math
import time

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyrodyn.exceptions import NonFiniteLossError, NumericsWarning
from pyrodyn.infer import Callback, fit, linear, read_history
from pyrodyn.infer.checkpoint import load_checkpoint
from pyrodyn.infer.options import FitOptions
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.params import in_local_params

from .conftest import FaultyVAE, ToyVAE, make_data


class _Kill(Exception):
    pass


class KillAt(Callback):
    """Raises at the end of a step, as a crash between two checkpoints would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state) -> None:
        if state.step == self.step:
            raise _Kill


def _without_time(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


def _assert_same_run(a, b, *, same_clock: bool = False) -> None:
    """Bit-identical parameters and history (loss, terms, lr; time too on a fake clock)."""
    sa, sb = a.model.state_dict(), b.model.state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    if same_clock:
        assert a.history == b.history
    else:
        assert _without_time(a.history) == _without_time(b.history)


# ---------------------------------------------------------------------------- resume bugs
def test_resume_after_a_rollback_restores_the_learning_rate_factor(tmp_path, toy_data, device):
    # step 6 (index 5) diverges once: rolled back, lr halved; the checkpoint of step 8 holds
    # lr_factor 0.5, and the resumed run must train on with it
    kw = dict(
        steps=14, lr=2e-2, batch_size=4, window=10, checkpoint_every=4, seed=5,
        schedules={"at": float}, device=device,
    )  # fmt: skip
    torch.manual_seed(0)
    with pytest.warns(NumericsWarning, match="step 6: nll.x = nan"):
        full = fit(FaultyVAE({5: "nan"}), toy_data, checkpoint_dir=tmp_path / "a", **kw)
    assert full.rollbacks == 1
    assert [r["lr"] for r in full.history[4:6]] == pytest.approx([2e-2, 1e-2])
    b = tmp_path / "b"
    torch.manual_seed(0)
    with pytest.warns(NumericsWarning), pytest.raises(_Kill):
        fit(FaultyVAE({5: "nan"}), toy_data, checkpoint_dir=b, callbacks=[KillAt(10)], **kw)
    ckpt = load_checkpoint(b / "checkpoint.pt")
    assert (ckpt["step"], ckpt["lr_factor"]) == (8, 0.5)
    torch.manual_seed(1)  # another initialisation: everything must come from the checkpoint
    resumed = fit(FaultyVAE(), toy_data, checkpoint_dir=b, resume=True, **kw)
    assert resumed.steps_done == 14 and resumed.rollbacks == 0
    _assert_same_run(full, resumed)


def test_rollback_after_a_resume_returns_to_the_checkpointed_state(tmp_path, toy_data):
    # faults at steps 6 and 11; the run is killed at step 10 and resumed from step 8, so the
    # second rollback happens in the resumed segment: it must restore the state of step 8 (the
    # checkpoint, as the uninterrupted run's snapshot of step 8 holds), not the fresh model's
    # initial parameters, and halve the restored factor 0.5 to 0.25
    kw = dict(
        steps=14, lr=2e-2, batch_size=4, window=10, checkpoint_every=4, seed=3,
        schedules={"at": float},
    )  # fmt: skip
    torch.manual_seed(0)
    with pytest.warns(NumericsWarning) as caught:
        full = fit(FaultyVAE({5: "nan", 10: "nan"}), toy_data, checkpoint_dir=tmp_path / "a", **kw)
    assert [str(w.message).split(":")[0] for w in caught] == [
        "non-finite value at step 6",
        "non-finite value at step 11",
    ]
    assert [r["lr"] for r in full.history] == pytest.approx([2e-2] * 5 + [1e-2] * 5 + [5e-3] * 4)
    b = tmp_path / "b"
    torch.manual_seed(0)
    with pytest.warns(NumericsWarning), pytest.raises(_Kill):
        fit(FaultyVAE({5: "nan", 10: "nan"}), toy_data, checkpoint_dir=b,
            callbacks=[KillAt(10)], **kw)  # fmt: skip
    torch.manual_seed(1)  # another initialisation: the rollback target must be the checkpoint
    with pytest.warns(NumericsWarning, match="step 11: nll.x = nan"):
        resumed = fit(FaultyVAE({10: "nan"}), toy_data, checkpoint_dir=b, resume=True, **kw)
    assert resumed.steps_done == 14 and resumed.rollbacks == 1
    _assert_same_run(full, resumed)


def test_resume_continues_the_time_clock(tmp_path, toy_data, monkeypatch):
    # a fake clock: every step takes one second (the callback advances it), so the time clock
    # is deterministic; max_time is the budget of the whole run, like steps
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])

    class Tick(Callback):
        def on_step_end(self, state) -> None:
            now[0] += 1.0

    kw = dict(
        steps=1000, lr=5e-2, batch_size=4, window=10, checkpoint_every=5, max_time=20.0,
        schedule_clock="time", lr_schedule={"type": "cosine"},
        schedules={"beta": linear(0.1, 1.0, 1000)},
    )  # fmt: skip
    torch.manual_seed(0)
    full = fit(ToyVAE(), toy_data, checkpoint_dir=tmp_path / "a", callbacks=[Tick()], **kw)
    assert (full.stopped_reason, full.steps_done, full.elapsed) == ("max_time", 20, 20.0)
    # the time clock, not the step: step 11 runs at 10 s of 20, half-way through the schedule
    assert full.history[10]["lr"] == pytest.approx(5e-2 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    now[0] = 0.0
    b = tmp_path / "b"
    torch.manual_seed(0)
    with pytest.raises(_Kill):
        fit(ToyVAE(), toy_data, checkpoint_dir=b, callbacks=[Tick(), KillAt(13)], **kw)
    assert load_checkpoint(b / "checkpoint.pt")["elapsed"] == 10.0
    now[0] = 5000.0  # the machine's clock moved on while the run was down
    resumed = fit(ToyVAE(), toy_data, checkpoint_dir=b, resume=True, callbacks=[Tick()], **kw)
    assert (resumed.stopped_reason, resumed.steps_done, resumed.elapsed) == ("max_time", 20, 20.0)
    _assert_same_run(full, resumed, same_clock=True)
    # the run has spent its time budget: resuming again stops at once; a larger one extends it
    again = fit(ToyVAE(), toy_data, checkpoint_dir=b, resume=True, **kw)
    assert (again.steps_done, again.stopped_reason) == (20, "max_time")
    kw["max_time"] = 22.0
    more = fit(ToyVAE(), toy_data, checkpoint_dir=b, resume=True, callbacks=[Tick()], **kw)
    assert more.steps_done == 22


# ---------------------------------------------------------------------------- divergence
def test_distribution_validation_error_rolls_back(toy_data):
    with pytest.warns(
        NumericsWarning, match=r"step 3: the loss raised ValueError \(Expected param"
    ):
        res = fit(FaultyVAE({2: "raise"}), toy_data, steps=5, lr=0.1, schedules={"at": float})
    assert res.rollbacks == 1 and res.steps_done == 5
    assert [r["lr"] for r in res.history] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05])


def test_recurring_validation_error_raises_non_finite_loss_error(toy_data):
    model = FaultyVAE({1: "raise"}, recurring=True)
    with (
        pytest.warns(NumericsWarning),
        pytest.raises(NonFiniteLossError, match=r"step 2: the loss raised ValueError") as info,
    ):
        fit(model, toy_data, steps=5, schedules={"at": float})
    assert "Expected parameter scale" in str(info.value.__cause__)


def test_other_value_errors_in_the_loss_are_not_swallowed(toy_data):
    class Broken(ToyVAE):
        def loss(self, batch, **scheduled):
            if torch.is_grad_enabled():  # not during the materialising evaluation
                raise ValueError("a bug in the model")
            return super().loss(batch, **scheduled)

    with pytest.raises(ValueError, match="a bug in the model"):
        fit(Broken(), toy_data, steps=2)


class RawScale(GenerativeModel):
    """x ~ N(loc, scale) with ``scale`` a raw parameter: a large step makes it negative, and
    torch's validation of the Normal then raises inside the loss."""

    def __init__(self) -> None:
        super().__init__({"x": Gaussian(2)})
        self.loc = nn.Parameter(torch.zeros(2))
        self.scale = nn.Parameter(torch.full((2,), 10.0))

    def model(self, batch, **_):
        with self.plate(batch):
            d = dist.Normal(self.loc, self.scale).expand(batch.obs["x"].shape).to_event(2)
            pyro.sample("x", d, obs=batch.obs["x"])

    def guide(self, batch, **_):
        return None


def test_huge_learning_rate_diverges_and_recovers(toy_data):
    with pytest.warns(NumericsWarning, match="Expected parameter scale") as caught:
        res = fit(RawScale(), toy_data, steps=30, lr=500.0, optimizer="sgd", clip_norm=None,
                  max_nonfinite=20)  # fmt: skip
    assert res.steps_done == 30 and res.rollbacks == len(caught) >= 1
    assert bool((res.model.scale > 0).all()) and all(math.isfinite(r["loss"]) for r in res.history)
    assert res.history[-1]["lr"] == pytest.approx(500.0 * 0.5**res.rollbacks)


def test_non_finite_parameters_after_the_update_roll_back(toy_data):
    class Overflow(torch.optim.SGD):
        """SGD whose third update overflows a parameter to inf."""

        calls = 0

        def step(self, closure=None):
            Overflow.calls += 1
            super().step(closure)
            if Overflow.calls == 3:
                with torch.no_grad():
                    self.param_groups[0]["params"][0].fill_(math.inf)

    with pytest.warns(NumericsWarning, match=r"step 3: parameter \S+ = inf after the update"):
        res = fit(ToyVAE(), toy_data, steps=4, lr=0.01, optimizer=Overflow)
    assert res.rollbacks == 1 and res.steps_done == 4
    assert all(bool(torch.isfinite(p).all()) for p in res.model.parameters())


@pytest.mark.parametrize("lr", [0.0, -1e-3, math.nan, math.inf])
def test_lr_must_be_finite_and_positive(toy_model, toy_data, lr):
    with pytest.raises(ValueError, match=r"lr must be positive and finite, got"):
        fit(toy_model, toy_data, steps=1, lr=lr)


def test_lr_must_be_a_number(toy_model, toy_data):
    with pytest.raises(TypeError, match="lr must be a positive number, got '1e-3'"):
        fit(toy_model, toy_data, steps=1, lr="1e-3")


# ---------------------------------------------------------------------------- set-up
class InitVAE(ToyVAE):
    """Records ``init_from_data`` calls and draws from the global RNG inside it (which must not
    change the training streams); sets the decoder bias to the batch mean."""

    def __init__(self) -> None:
        super().__init__()
        self.init_batches: list = []
        self.first_step_batch = None

    def init_from_data(self, batch) -> None:
        self.init_batches.append(batch)
        torch.randn(100)
        with torch.no_grad():
            self.decoder.heads["loc"].bias.copy_(batch.obs["x"].mean((0, 1)))

    def loss(self, batch, **scheduled):
        if torch.is_grad_enabled() and self.first_step_batch is None:
            self.first_step_batch = batch
        return super().loss(batch, **scheduled)


def test_init_from_data_sees_the_first_training_batch_once(toy_data, tmp_path):
    kw = dict(steps=3, batch_size=4, window=10, seed=2)
    torch.manual_seed(0)
    model = InitVAE()
    ra = fit(model, toy_data, checkpoint_dir=tmp_path, **kw)
    (batch,) = model.init_batches
    assert torch.equal(batch.obs["x"], model.first_step_batch.obs["x"])  # step 1's batch
    # the hook changes no random draw of the training: a model without it, given the bias the
    # hook set, follows the same trajectory
    torch.manual_seed(0)
    plain = ToyVAE()
    with torch.no_grad():
        plain.decoder.heads["loc"].bias.copy_(batch.obs["x"].mean((0, 1)))
    rb = fit(plain, toy_data, **kw)
    assert _without_time(ra.history) == _without_time(rb.history)
    # a resumed fit takes its parameters from the checkpoint and never calls the hook
    resumed = InitVAE()
    fit(resumed, toy_data, checkpoint_dir=tmp_path, resume=True, **{**kw, "steps": 5})
    assert resumed.init_batches == []


def test_init_from_data_runs_before_the_optimizer_exists(toy_data):
    seen = []

    class Probe(InitVAE):
        def init_from_data(self, batch) -> None:
            seen.append(("init", in_local_params(self)))
            super().init_from_data(batch)

    def factory(params, lr):
        seen.append(("optimizer", None))
        return torch.optim.Adam(params, lr=lr)

    fit(Probe(), toy_data, steps=1, optimizer=factory)
    assert seen == [("init", True), ("optimizer", None)]


def test_fit_runs_module_local_and_restores_pyro_settings(toy_data):
    flags = []

    class Probe(ToyVAE):
        def loss(self, batch, **scheduled):
            flags.append(in_local_params(self))
            return super().loss(batch, **scheduled)

    model = Probe()

    def check(state):
        flags.append(in_local_params(model))

    before = pyro.settings.get()
    fit(model, toy_data, steps=3, callbacks=[check])
    assert flags and all(flags) and pyro.settings.get() == before
    assert not in_local_params(model)
    assert len(pyro.get_param_store()) == 0  # nothing leaked into the global store


def test_fit_requires_a_generative_model(toy_data):
    class NotAModel(nn.Module):
        def loss(self, batch, **scheduled):
            return torch.zeros(()), {}

    with pytest.raises(
        TypeError, match=r"model must be a pyrodyn GenerativeModel .* got NotAModel"
    ):
        fit(NotAModel(), toy_data, steps=1)


def test_callbacks_must_be_callbacks_or_callables(toy_model, toy_data):
    class Duck:
        def on_step_end(self, state):
            return None

    with pytest.raises(TypeError, match=r"callbacks must be pyrodyn.infer.Callback .* got Duck"):
        fit(toy_model, toy_data, steps=1, callbacks=[Duck()])


def test_fit_options_defaults_are_fit_defaults():
    sig = inspect.signature(fit).parameters
    for name, value in FitOptions().as_kwargs().items():
        assert sig[name].default == value, name
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['stpes'\]"):
        FitOptions.from_kwargs({"stpes": 3}, caller="fit_distributed")


def test_history_file_matches_a_resumed_history(tmp_path, toy_data):
    fit(ToyVAE(), toy_data, steps=4, checkpoint_dir=tmp_path, checkpoint_every=2)
    res = fit(ToyVAE(), toy_data, steps=6, checkpoint_dir=tmp_path, resume=True)
    rows = read_history(tmp_path / "history.csv")
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in res.history])


def test_old_checkpoint_without_rank_states_resumes(tmp_path, toy_data):
    # checkpoints written before the loop was shared hold "rng" only (no rng_ranks/world_size)
    torch.manual_seed(0)
    full = fit(ToyVAE(), toy_data, steps=6, checkpoint_dir=tmp_path / "a", checkpoint_every=3)
    torch.manual_seed(0)
    with pytest.raises(_Kill):
        fit(ToyVAE(), toy_data, steps=6, checkpoint_dir=tmp_path / "b", checkpoint_every=3,
            callbacks=[KillAt(4)])  # fmt: skip
    path = tmp_path / "b" / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    for key in ("rng_ranks", "world_size"):
        del ckpt[key]
    torch.save(ckpt, path)
    resumed = fit(ToyVAE(), toy_data, steps=6, checkpoint_dir=tmp_path / "b", resume=True)
    _assert_same_run(full, resumed)


def test_validation_loss_uses_the_declared_normaliser(toy_data):
    valid = make_data(trials=3, seed=4)
    res = fit(ToyVAE(), toy_data, steps=2, valid_data=valid, valid_every=2, window=10)
    assert math.isfinite(res.history[-1]["valid_loss"])

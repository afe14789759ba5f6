"""Divergence: a huge learning rate on real models, which exceptions count as divergence, the
parameter check, and hyper-parameters refused before anything runs."""

from __future__ import annotations

import math
import re

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.dynamics import ClippedDendPLRNN
from pyrodyn.exceptions import NonFiniteLossError, NumericsWarning
from pyrodyn.infer import fit
from pyrodyn.infer.optim import all_finite, non_finite_parameter
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.mtf import MTF
from pyrodyn.models.svae import SVAE

from .conftest import ToyVAE

LIKS = {"g": (Gaussian, 2), "p": (Poisson, 3)}


def _likelihoods():
    return {k: cls(n) for k, (cls, n) in LIKS.items()}


MODELS = {
    "svae": lambda: SVAE(_likelihoods(), latent_dim=2),
    "mtf": lambda: MTF(_likelihoods(), ClippedDendPLRNN(4, num_bases=2), 3, tau=5),
}


@pytest.fixture
def mixed_data() -> MultimodalDataset:
    rng = np.random.default_rng(0)
    return MultimodalDataset(
        {
            "g": rng.normal(size=(8, 30, 2)),
            "p": rng.poisson(1.0, size=(8, 30, 3)).astype(float),
        }
    )


def _rolled_back_steps(caught) -> list[int]:
    """The step numbers of the rollback warnings."""
    out = []
    for w in caught:
        assert issubclass(w.category, NumericsWarning)
        assert "rolled back to the last good state and halved the learning rate" in str(w.message)
        out.append(int(re.match(r"non-finite value at step (\d+): ", str(w.message)).group(1)))
    return out


def _expected_lrs(rows, rollbacks: list[int], lr: float) -> list[float]:
    """Each row's lr by hand: ``lr`` halved once per rollback at this row's step or before."""
    return [lr * 0.5 ** sum(s <= r["step"] for s in rollbacks) for r in rows]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_huge_learning_rate_rolls_back_then_raises_naming_step_and_term(name, mixed_data):
    # lr=1000 (issue 15): the parameters blow up and torch's validation rejects a scale or a
    # latent inside the loss; this must be rolled back, and after max_nonfinite rollbacks
    # raise NonFiniteLossError naming the step and what was rejected, not the raw ValueError
    rows: list[dict] = []
    torch.manual_seed(0)
    with (
        pytest.warns(NumericsWarning) as caught,
        pytest.raises(NonFiniteLossError, match=r"\(3 times since the last good snapshot") as info,
    ):
        fit(MODELS[name](), mixed_data, steps=30, lr=1000.0, batch_size=4, window=10,
            callbacks=[lambda s: rows.append(dict(s.record))])  # fmt: skip
    rollbacks = _rolled_back_steps(caught)
    assert len(rollbacks) == 2
    msg = str(info.value)
    step = int(re.match(r"non-finite value at step (\d+): ", msg).group(1))
    assert step == rows[-1]["step"] + 1  # the step that diverged a third time
    # the term: a non-finite term of the loss, or the value validation rejected (and its site)
    term = re.match(r"non-finite value at step \d+: (.*) \(3 times", msg).group(1)
    assert re.fullmatch(r"[\w.]+ = (nan|inf|-inf)", term) or term.startswith(
        "the loss raised ValueError"
    ), term
    if term.startswith("the loss raised ValueError"):
        assert re.search(r"\(Expected (parameter|value argument) \w+", term)
        assert isinstance(info.value.__cause__, ValueError)
    assert [r["lr"] for r in rows] == pytest.approx(_expected_lrs(rows, rollbacks, 1000.0))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_huge_learning_rate_recovers_with_enough_rollbacks(name, mixed_data):
    torch.manual_seed(0)
    with pytest.warns(NumericsWarning) as caught:
        res = fit(MODELS[name](), mixed_data, steps=40, lr=1000.0, batch_size=4, window=10,
                  max_nonfinite=40)  # fmt: skip
    rollbacks = _rolled_back_steps(caught)
    assert res.steps_done == 40 and res.rollbacks == len(rollbacks) >= 1
    assert all(math.isfinite(r["loss"]) for r in res.history)
    assert all(bool(torch.isfinite(p).all()) for p in res.model.parameters())
    assert [r["lr"] for r in res.history] == pytest.approx(
        _expected_lrs(res.history, rollbacks, 1000.0)
    )


def test_svae_rejection_names_the_site(mixed_data):
    # SVAE with Adam at lr=1000: the prior's scale underflows to 0 at site 'prior.z'
    torch.manual_seed(0)
    with pytest.warns(NumericsWarning), pytest.raises(NonFiniteLossError) as info:
        fit(MODELS["svae"](), mixed_data, steps=30, lr=1000.0, batch_size=4, window=10)
    assert re.search(
        r"step \d+: the loss raised ValueError at site '[\w.]+' \(Expected parameter scale .*"
        r"GreaterThan\(lower_bound=0.0\)\) \(3 times",
        str(info.value),
    )


# ---------------------------------------------------------------------- what is not divergence
class RejectsAt(ToyVAE):
    """Raises ``error`` (once, from the loss) at schedule index ``at``; the materialising
    evaluation (no grad) is left alone. ``error=None`` raises torch's validation error."""

    def __init__(self, at: int, error: Exception | None = None) -> None:
        super().__init__()
        self.at, self.error, self.raised = at, error, None

    def loss(self, batch, idx: float = -1.0, **scheduled):
        if torch.is_grad_enabled() and int(idx) == self.at and self.raised is None:
            try:
                if self.error is not None:
                    raise self.error
                dist.Normal(torch.zeros(()), -torch.ones(()), validate_args=True)
            except Exception as err:
                self.raised = err
                raise
        return super().loss(batch, **scheduled)


def test_validation_error_at_the_initial_parameters_propagates_unchanged(toy_data):
    # no update has moved the parameters: the model (or the data) is wrong, not the step size
    model = RejectsAt(0)
    with pytest.raises(ValueError, match="Expected parameter scale") as info:
        fit(model, toy_data, steps=3, schedules={"idx": float})
    assert info.value is model.raised


def test_validation_error_after_an_update_is_a_divergence(toy_data):
    with pytest.warns(NumericsWarning, match=r"step 3: the loss raised ValueError \(Expected"):
        res = fit(RejectsAt(2), toy_data, steps=4, lr=0.1, schedules={"idx": float})
    assert res.rollbacks == 1 and res.steps_done == 4


@pytest.mark.parametrize(
    "error", [RuntimeError("a bug in the model"), KeyError("x"), ValueError("a bad value")]
)
def test_other_exceptions_after_updates_propagate_unchanged(toy_data, error, recwarn):
    model = RejectsAt(2, error)
    with pytest.raises(type(error)) as info:
        fit(model, toy_data, steps=4, schedules={"idx": float})
    assert info.value is error
    assert not [w for w in recwarn if issubclass(w.category, NumericsWarning)]  # no rollback


def test_validation_error_with_non_finite_parameters_is_a_divergence(toy_data):
    class NaNScale(ToyVAE):
        """A NaN parameter that only the training loss (with grad) reads."""

        def __init__(self) -> None:
            super().__init__()
            self.raw = nn.Parameter(torch.tensor(math.nan))

        def loss(self, batch, **scheduled):
            total, terms = super().loss(batch, **scheduled)
            if torch.is_grad_enabled():
                d = dist.Normal(torch.zeros(()), self.raw, validate_args=True)
                total = total - d.log_prob(torch.zeros(()))
            return total, terms

    with (
        pytest.warns(NumericsWarning),
        pytest.raises(
            NonFiniteLossError, match=r"step 1: the loss raised ValueError \(Expected parameter"
        ),
    ):
        fit(NaNScale(), toy_data, steps=3)


# ---------------------------------------------------------------------- the parameter check
def test_all_finite_matches_numpy():
    g = torch.Generator().manual_seed(0)
    big = torch.full((3,), 3e38)  # finite, but its L1 norm overflows float32
    for trial in range(40):
        tensors = [
            torch.randn(4, 3, generator=g),
            torch.randn(5, generator=g, dtype=torch.float64),
            torch.randn(0, generator=g),
            big.clone(),
        ]
        if trial % 2:
            t = tensors[trial % 4 if trial % 4 != 2 else 0]
            t.view(-1)[trial % t.numel()] = [math.nan, math.inf, -math.inf][trial % 3]
        expected = all(np.isfinite(t.numpy()).all() for t in tensors)
        assert all_finite(tensors) is expected, trial


def test_huge_finite_parameters_are_not_a_divergence():
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.fill_(3e38)
    assert non_finite_parameter(model, list(model.parameters())) is None
    with torch.no_grad():
        model.bias[1] = -math.inf
    assert non_finite_parameter(model, list(model.parameters())) == (
        "parameter bias = -inf after the update"
    )


# ---------------------------------------------------------------------- refused up front
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": math.inf}, r"lr must be positive and finite, got inf"),
        ({"lr": math.nan}, r"lr must be positive and finite, got nan"),
        ({"clip_norm": math.inf}, r"clip_norm must be None or positive and finite .*got inf"),
        ({"clip_norm": math.nan}, r"clip_norm must be None or positive and finite .*got nan"),
        ({"clip_norm": 0.0}, r"clip_norm must be None or positive and finite .*got 0.0"),
        ({"max_time": math.inf}, r"max_time must be None or positive and finite .*got inf"),
        ({"max_time": math.nan}, r"max_time must be None or positive and finite .*got nan"),
        (
            {"lr_schedule": {"type": "multistep", "milestones": [2], "gamma": math.inf}},
            r"lr_schedule 'multistep': multistep_lr: gamma must be finite and > 0, got inf",
        ),
        (
            {"lr_schedule": {"type": "multistep", "milestones": [2], "gamma": 0.0}},
            r"lr_schedule 'multistep': multistep_lr: gamma must be finite and > 0, got 0.0",
        ),
        (
            {"lr_schedule": {"type": "cosine", "min_factor": math.nan}},
            r"lr_schedule 'cosine': cosine_lr: min_factor must be finite, got nan",
        ),
        (
            {"lr_schedule": {"type": "cosine", "min_factor": -0.5}},
            r"lr_schedule 'cosine': cosine_lr: min_factor must be >= 0, got -0.5",
        ),
    ],
)
def test_non_finite_hyper_parameters_are_refused(toy_data, kwargs, match):
    model = ToyVAE()
    with pytest.raises(ValueError, match=match):
        fit(model, toy_data, steps=3, **kwargs)
    assert model.calls == 0  # refused before any loss was evaluated


@pytest.mark.parametrize("bad", [math.inf, math.nan, -0.5])
def test_a_callable_lr_schedule_giving_a_bad_multiplier_is_refused(toy_data, bad):
    with pytest.raises(
        ValueError, match=rf"lr_schedule must give a finite multiplier >= 0, got {bad} at index 2"
    ):
        fit(ToyVAE(), toy_data, steps=4, lr_schedule=lambda i: 1.0 if i < 2 else bad)

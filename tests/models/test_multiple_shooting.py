"""Multiple shooting: free rollouts from learned nodes, continuity factor, its objective."""

from __future__ import annotations

import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.dynamics import ClippedDendPLRNN
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.capabilities import ForecastsAhead, Generates
from pyrodyn.models.multiple_shooting import MultipleShooting, MultipleShootingObjective
from pyrodyn.testing.model import ModelConformance


def _model(device="cpu", dt=0.5):
    dyn = ClippedDendPLRNN(4, num_bases=2)
    return MultipleShooting({"x": Gaussian(3)}, dyn, num_steps=60, interval=10, dt=dt).to(device)


def _windows(device="cpu", start=(20, 25), window=8):
    x = torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
    ds = MultimodalDataset({"x": x.numpy()}, dt=0.5)
    rows = torch.zeros(len(start), dtype=torch.long)
    return ds.batch(rows, start=torch.tensor(start), window=window).to(device)


def legacy_loss(model, batch, continuity_weight=1.0):
    """``MultipleShooting.loss`` before the redesign (commit 6fe76fb)."""
    window, gap = model._rollout(batch)
    valid = batch.valid_steps().to(window.dtype)
    n = valid.sum().clamp_min(1)
    params = model.decode(window)
    terms = {}
    for mod in model.modalities:
        lp = model.likelihoods[mod].log_prob(params[mod], batch.obs[mod], batch.mask[mod])
        terms[f"obs.{mod}"] = -(lp * valid).sum() / n
    terms["continuity"] = gap.mean()
    total = sum(v for k, v in terms.items() if k.startswith("obs.")) + (
        continuity_weight * terms["continuity"]
    )
    return total, terms


def test_windows_use_their_node(device):
    model = _model(device)
    batch = _windows(device)
    window, gap = model._rollout(batch)
    # window 0 starts at node 2 itself; window 1 five steps into node 2's free rollout
    torch.testing.assert_close(window[0, 0], model.nodes[0, 2])
    roll = model.dynamics.rollout(model.nodes[0, 2][None], 12)[0]
    torch.testing.assert_close(window[1, 0], roll[4])
    torch.testing.assert_close(gap[0], (roll[9] - model.nodes[0, 3]).square().mean())
    total, terms = model.loss(batch)
    assert torch.isfinite(total)
    assert set(terms) == {"nll.x", "continuity"}
    total.backward()
    assert model.nodes.grad[0, 2].abs().sum() > 0
    assert model.nodes.grad[0, 3].abs().sum() > 0  # through the continuity penalty
    out = model.generate(5, init=batch, num_trials=2)
    assert out["x"].shape == (2, 5, 3)
    far = MultimodalBatch.from_tensors(
        {"x": torch.zeros(1, 5, 3)}, times=torch.arange(200.0, 205.0)
    )
    with pytest.raises(ValueError, match="outside the recording"):
        model.loss(far.to(device))


@pytest.mark.parametrize("weight", [1.0, 0.3, 0.0])
def test_loss_equals_the_legacy_objective(weight):
    model = _model()
    model.elbo = MultipleShootingObjective(continuity_weight=weight)
    batch = _windows(start=(20, 25, 3, 41))
    old, old_terms = legacy_loss(model, batch, weight)
    new, terms = model.loss(batch)
    torch.testing.assert_close(new.detach(), old.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["nll.x"], old_terms["obs.x"].detach(), rtol=1e-5, atol=1e-6)
    want = weight * old_terms["continuity"].detach()
    torch.testing.assert_close(terms["continuity"], want, rtol=1e-5, atol=1e-6)
    # scheduled values override the option
    torch.testing.assert_close(
        model.loss(batch, continuity_weight=2.0)[0], legacy_loss(model, batch, 2.0)[0]
    )


def test_objective_options_and_capabilities():
    model = _model()
    assert isinstance(model.elbo, MultipleShootingObjective)
    assert model.elbo.options == {"continuity_weight": 1.0}
    assert MultipleShootingObjective.legacy_model_keys == {"continuity_weight"}
    assert isinstance(model, Generates) and not isinstance(model, ForecastsAhead)
    with pytest.raises(ValueError, match="continuity_weight must be >= 0, got -1"):
        MultipleShootingObjective(continuity_weight=-1.0)
    with pytest.raises(TypeError, match=r"unknown options \['beta'\]"):
        MultipleShootingObjective(beta=1.0)
    with pytest.raises(TypeError, match=r"unknown scheduled values \['beta'\]"):
        model.loss(_windows(), beta=1.0)
    with pytest.raises(ValueError, match="scheduled continuity_weight must be >= 0"):
        model.loss(_windows(), continuity_weight=-0.5)
    with pytest.raises(ValueError, match="need num_trials >= 1 and dt > 0"):
        _model(dt=0.0)


class TestMultipleShootingConformance(ModelConformance):
    train_steps = 60

    def make_model(self):
        return MultipleShooting(
            {"x": Gaussian(3), "c": Poisson(2)},
            ClippedDendPLRNN(4, num_bases=2),
            num_steps=40,
            interval=10,
        )

    def make_batch(self):
        g = torch.Generator().manual_seed(0)
        steps = torch.arange(40, dtype=torch.float32)[:, None] * 0.4
        wave = torch.cat([torch.sin(steps), torch.cos(steps), torch.sin(2 * steps)], -1)
        x = 2.0 + 2.0 * wave + 0.05 * torch.randn(40, 3, generator=g)
        c = torch.poisson((1.0 + 0.5 * wave[:, :2]).exp(), generator=g)
        ds = MultimodalDataset({"x": x.numpy(), "c": c.numpy()})
        start = torch.tensor([0, 7, 15, 26])
        return ds.batch(torch.zeros(4, dtype=torch.long), start=start, window=12)

"""few_shot_transfer on a hand-made model whose loss and Adam steps are known in closed form."""

import numpy as np
import pytest
import torch
from torch import nn

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.metrics.forecast import few_shot_transfer

# outside the module, so that the deep copies few_shot_transfer trains all log here
_LOG: list[dict] = []


class _Recorder(nn.Module):
    """A plain module: a callable predictor and a ``loss`` linear in its two scalar weights.

    ``loss = g_k * (dynamics.w + head.w)`` at the k-th call of a copy (``grads`` cycles), so each
    Adam step of the unfrozen ``head`` is known in closed form. Predicts zeros for ``x`` (nMSE 1)
    and the exact ones of ``y`` (nMSE 0).
    """

    def __init__(self, grads=(1.0,)):
        super().__init__()
        self.dynamics = nn.Linear(1, 1, bias=False)
        self.head = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.dynamics.weight.fill_(1.0)
            self.head.weight.fill_(1.0)
        self.grads = grads
        self.calls = 0

    def forward(self, batch, times):
        n, q = batch.num_sequences, times.shape[1]
        return {
            "x": torch.zeros(n, q, 2, dtype=torch.float64),
            "y": torch.ones(n, q, 1, dtype=torch.float64),
        }

    def loss(self, batch, horizon=None):
        g = self.grads[self.calls % len(self.grads)]
        self.calls += 1
        _LOG.append(
            {
                "model": self,
                "training": (self.training, self.dynamics.training),
                "size": batch.num_sequences,
                "window": batch.times.shape[1],
                "horizon": horizon,
                "index": batch.index.clone(),
            }
        )
        return g * (self.dynamics.weight.sum() + self.head.weight.sum()), {}


def _data(n=6, t=7):
    x = np.random.default_rng(0).normal(size=(n, t, 2)) + 3.0
    return MultimodalDataset({"x": x, "y": np.ones((n, t, 1))})


def _copies():
    out = []
    for rec in _LOG:
        if not any(rec["model"] is m for m in out):
            out.append(rec["model"])
    return out


def _adam(grads, lr, clip=5.0, b1=0.9, b2=0.999, eps=1e-8):
    """Reference Adam on one scalar weight starting at 1, each gradient clipped to ``clip``."""
    w, m, v = 1.0, 0.0, 0.0
    for k, g in enumerate(grads, start=1):
        g = float(np.clip(g, -clip, clip))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w -= lr * (m / (1 - b1**k)) / (np.sqrt(v / (1 - b2**k)) + eps)
    return w


def test_fine_tuning_steps_a_fresh_copy_by_clipped_adam_with_dynamics_frozen():
    _LOG.clear()
    model = _Recorder(grads=(100.0, 1.0))  # the first gradient is clipped to norm 5
    data = _data()
    out = few_shot_transfer(
        model, data, data, shots=(0, 1, 2), steps=2, lr=0.1, batch_size=8, context=3, horizon=4
    )
    assert out == {0: pytest.approx(1.0), 1: pytest.approx(1.0), 2: pytest.approx(1.0)}
    # shot 0 is not trained, shots 1 and 2 train their own copy twice each
    copies = _copies()
    assert len(_LOG) == 4 and len(copies) == 2 and all(c is not model for c in copies)
    assert model.calls == 0 and model.head.weight.item() == 1.0
    assert model.dynamics.weight.item() == 1.0
    want = _adam([100.0, 1.0], lr=0.1)
    assert want == pytest.approx(1.0 - 0.1 - 0.1 * 0.8030, abs=1e-4)  # by hand, 2 steps
    for c in copies:
        assert c.head.weight.item() == pytest.approx(want, abs=1e-7)
        assert c.dynamics.weight.item() == 1.0
    # trained in train mode with the frozen part in eval mode, on windows of context + horizon
    assert [r["training"] for r in _LOG] == [(True, False)] * 4
    assert [r["window"] for r in _LOG] == [7] * 4
    assert [r["horizon"] for r in _LOG] == [4] * 4
    # batches: 4 windows per training trajectory, at most batch_size
    assert [r["size"] for r in _LOG] == [4, 4, 8, 8]
    assert all(int(r["index"].max()) < n for r, n in zip(_LOG, [1, 1, 2, 2]))


def test_step_and_shot_boundaries():
    _LOG.clear()
    data = _data()
    kw = {"context": 3, "horizon": 4}
    few_shot_transfer(_Recorder(), data, data, shots=(1,), steps=1, **kw)
    assert len(_LOG) == 1
    # steps=0 evaluates as is, even with nothing left to train
    out = few_shot_transfer(
        _Recorder(), data, data, shots=(2,), steps=0, freeze=("dynamics", "head"), **kw
    )
    assert out == {2: pytest.approx(1.0)} and len(_LOG) == 1
    # all training trajectories may be used; the scored modality is the one asked for
    out = few_shot_transfer(_Recorder(), data, data, shots=(6,), steps=1, modality="y", **kw)
    assert out == {6: pytest.approx(0.0, abs=1e-12)}
    with pytest.raises(ValueError, match=r"steps must be >= 0, got -1"):
        few_shot_transfer(_Recorder(), data, data, steps=-1, **kw)
    with pytest.raises(ValueError, match=r"shots must lie in \[0, 6\], got 7"):
        few_shot_transfer(_Recorder(), data, data, shots=(7,), steps=1, **kw)
    with pytest.raises(ValueError, match=r"shots must lie in \[0, 6\], got -1"):
        few_shot_transfer(_Recorder(), data, data, shots=(-1,), steps=1, **kw)


def test_defaults_and_seeded_batches():
    _LOG.clear()
    data = _data(n=6, t=60)
    few_shot_transfer(_Recorder(), data, data, shots=(5,))
    # defaults: 200 Adam steps at lr 1e-3 on batches of 16 windows of 10 + 50 steps
    assert len(_LOG) == 200
    assert {r["size"] for r in _LOG} == {16} and {r["window"] for r in _LOG} == {60}
    assert {r["horizon"] for r in _LOG} == {50}
    # a constant gradient: every Adam step moves the weight by lr
    assert _copies()[0].head.weight.item() == pytest.approx(1.0 - 200 * 1e-3, rel=1e-5)  # float32
    # batches are drawn from a generator seeded with seed + n, so runs are reproducible
    gen = torch.Generator().manual_seed(0 + 5)
    sub = data.subset(torch.arange(5))
    for rec in _LOG[:3]:
        want = sub.sample_batch(16, window=60, generator=gen).index
        assert torch.equal(rec["index"], want)

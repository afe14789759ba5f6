from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import savgol_filter

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.dynamics import ClippedDendPLRNN, ClippedShallowPLRNN
from pyrodyn.likelihoods import Gaussian, Ordinal, Poisson
from pyrodyn.metrics.power_spectrum import d_h
from pyrodyn.metrics.state_space import d_stsp
from pyrodyn.models.mtf import MTF
from pyrodyn.models.mtf.ridge_init import RidgeInit
from pyrodyn.models.svae import SVAE
from pyrodyn.nn.decoders import MLPDecoder
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder


def _recording(n=1500, trials=1, noise=0.05, seed=0):
    """A noisy limit cycle (2 Gaussian channels) with 3 ordinal channels reading it."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 0.1
    clean = np.stack([np.sin(t), np.cos(t)], -1)
    gauss = np.stack([clean + noise * rng.normal(size=clean.shape) for _ in range(trials)])
    codes = np.clip(np.round(2 * clean[:, [0, 1, 0]] + 3), 1, 5)
    ords = np.repeat(codes[None], trials, 0)
    return MultimodalDataset({"g": gauss, "o": ords}), clean


def _model(k=4, seed=0, **kw):
    torch.manual_seed(seed)
    liks = {"g": Gaussian(2), "o": Ordinal(3, 5)}
    enc = TemporalConvEncoder(5, k, kernel_sizes=(5,))
    dynamics = kw.pop("dynamics", None) or ClippedShallowPLRNN(k, hidden_dim=60)
    return MTF(liks, dynamics, k, tau=5, encoder=enc, **kw)


def test_the_initialised_model_already_follows_the_data():
    data, clean = _recording()
    model = _model()
    report = RidgeInit(encoder_steps=300, window=50, seed=0)(model, data)
    assert report["modality"] == "g" and len(report["a"]) == 2
    assert max(report["residual"]) < 0.03  # below the noise sd 0.05: the smoothed one-step map
    assert report["encoder_mse"] < 0.02
    # the Gaussian decoder reads the first units: the identity on them
    head = model.decoders["g"].heads["loc"]
    torch.testing.assert_close(head.weight, torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    assert torch.all(head.bias == 0)
    # the encoder's latent is the smoothed recording (first units) and zeros
    model.eval()
    with torch.no_grad():
        latent = model.encode(data.batch())["latent"][0].numpy()
    smooth = savgol_filter(data.data["g"][0].numpy(), 7, 3, axis=0)
    assert np.sqrt(np.mean((latent[20:-20, :2] - smooth[20:-20]) ** 2)) < 0.15
    # a free run from the data, untrained, stays on the limit cycle
    torch.manual_seed(0)
    gen = model.generate(600, init=data.batch(torch.tensor([0]), window=50), burn_in=100)
    x = gen["g"][0].numpy()
    radius = np.linalg.norm(x, axis=1)
    assert np.all(np.isfinite(x)) and abs(np.median(radius) - 1.0) < 0.15
    assert x[:, 0].std() == pytest.approx(clean[:, 0].std(), rel=0.25)


def test_other_modalities_decoders_are_fitted_to_the_latent():
    data, _ = _recording()
    model = _model()
    before = _ordinal_nll(model, data)
    RidgeInit(encoder_steps=200, window=50, lr=3e-2)(model, data)
    assert _ordinal_nll(model, data) < 0.5 * before


def _ordinal_nll(model, data):
    smooth = savgol_filter(data.data["g"][0].numpy(), 7, 3, axis=0)
    z = torch.zeros(smooth.shape[0], 4)
    z[:, :2] = torch.as_tensor(smooth, dtype=torch.float32)
    with torch.no_grad():
        params = model.decoders["o"](z)
        return float(-model.likelihoods["o"].log_prob(params, data.data["o"][0]).mean())


def test_several_trials_and_no_smoothing():
    data, _ = _recording(n=400, trials=3)
    model = _model()
    report = RidgeInit(smooth=1, encoder_steps=0)(model, data)
    assert report["encoder_mse"] is None and max(report["residual"]) < 0.2


def test_linear_unit_pairs_reach_the_fit():
    data, _ = _recording(n=400, noise=0.0)
    model = _model(dynamics=ClippedShallowPLRNN(4, hidden_dim=8))
    plain = RidgeInit(encoder_steps=0, smooth=1)(model, data)
    report = RidgeInit(linear_span=4.0, encoder_steps=0, smooth=1)(model, data)
    pairs = torch.tensor([[1.0, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0]])
    assert torch.equal(model.dynamics.W2[:4].detach(), pairs)
    assert torch.all(model.dynamics.h2[:4] == 4.0)
    # the limit cycle's rotation mixes the two channels: the linear pairs follow it better
    assert max(report["residual"]) < 0.1 * max(plain["residual"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"smooth": 4}, r"smooth must be 1 or an odd window longer than polyorder \(3\), got 4"),
        ({"smooth": 3}, r"smooth must be 1 or an odd window longer than polyorder \(3\), got 3"),
        ({"smooth": 0}, r"smooth must be 1 or an odd window .* got 0"),
        ({"polyorder": -1, "smooth": 1}, r"polyorder must be >= 0, got -1"),
        ({"encoder_steps": -1}, r"encoder_steps must be >= 0, got -1"),
        ({"batch_size": 0}, r"batch_size must be >= 1, got 0"),
        ({"window": 1}, r"window must be >= 2, got 1"),
        ({"lr": 0.0}, r"lr must be > 0, got 0.0"),
        ({"linear_span": 0.0}, r"linear_span must be > 0 or None, got 0.0"),
        ({"draws": 0}, r"draws must be >= 1 and score_steps >= 100, got draws=0, score_steps="),
        ({"score_steps": 99}, r"draws must be >= 1 and score_steps >= 100, .*score_steps=99"),
        ({"draws": 2}, r"draws=2 needs score=callable\(x_true, x_gen\) -> float"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RidgeInit(**kwargs)


def test_models_and_data_it_cannot_use():
    data, _ = _recording(n=300)
    with pytest.raises(TypeError, match=r"RidgeInit initialises MTF models, got SVAE"):
        RidgeInit()(SVAE({"g": Gaussian(2)}, latent_dim=2), data)
    with pytest.raises(TypeError, match=r"fits a ShallowPLRNN or .*got ClippedDendPLRNN"):
        RidgeInit()(_model(dynamics=ClippedDendPLRNN(4, num_bases=2)), data)
    counts = MultimodalDataset({"c": np.ones((1, 300, 2))})
    torch.manual_seed(0)
    no_gauss = MTF({"c": Poisson(2)}, ClippedShallowPLRNN(4, hidden_dim=8), 4, tau=5)
    with pytest.raises(ValueError, match=r"needs a modality with a Gaussian likelihood and a line"):
        RidgeInit()(no_gauss, counts)
    with pytest.raises(ValueError, match=r"modality 'o' is not one with a Gaussian likelihood"):
        RidgeInit(modality="o")(_model(), data)
    mlp = _model(decoders={"g": MLPDecoder(4, Gaussian(2), hidden=(8,))})
    with pytest.raises(ValueError, match=r"needs a modality with a Gaussian likelihood"):
        RidgeInit()(mlp, data)
    with pytest.raises(ValueError, match=r"modality 'g' has features \(2,\); it needs a vector of"):
        RidgeInit()(_model(k=1, dynamics=ClippedShallowPLRNN(1, hidden_dim=8)), data)
    gappy = data.data["g"].clone()
    gappy[0, 10, 0] = float("nan")
    holes = MultimodalDataset({"g": gappy, "o": data.data["o"]})
    with pytest.raises(ValueError, match=r"modality 'g' has missing values in trial 0"):
        RidgeInit()(_model(), holes)
    short, _ = _recording(n=5)
    with pytest.raises(ValueError, match=r"trial 0 has 5 steps, fewer than the smoothing window 7"):
        RidgeInit()(_model(), short)
    static = MultimodalDataset({"g": np.zeros((5, 2))}, static=True)
    with pytest.raises(ValueError, match=r"RidgeInit needs sequences; the data are static"):
        RidgeInit()(_model(), static)


def _score(x_true, x_gen):
    return d_stsp(x_true, x_gen) + d_h(x_true, x_gen, sigma=1.0)


def test_draws_keep_the_best_scoring_hidden_layer():
    data, _ = _recording(n=1500)
    model = _model()
    report = RidgeInit(draws=4, score_steps=300, score=_score, encoder_steps=0)(model, data)
    scores = report["draw_scores"]
    assert len(scores) == 4 and all(np.isfinite(scores))
    # the kept weights are the lowest score's: the same seed's first best + 1 draws end on it
    best = int(np.argmin(scores))
    again = _model()
    RidgeInit(draws=best + 1, score_steps=300, score=_score, encoder_steps=0)(again, data)
    torch.testing.assert_close(again.dynamics.W2, model.dynamics.W2)
    if best > 0:  # and it differs from the first draw
        first = _model()
        RidgeInit(encoder_steps=0)(first, data)
        assert not torch.equal(first.dynamics.W2, model.dynamics.W2)
    # one draw is the plain fit, without scores
    assert "draw_scores" not in RidgeInit(encoder_steps=0)(_model(), data)

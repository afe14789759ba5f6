import numpy as np
import pytest

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.likelihoods.poisson import Poisson
from pyrodyn.metrics import get_metric
from pyrodyn.metrics.probes import (
    coherence,
    linear_probe_accuracy,
    probe_accuracies,
    reconstruction_nll,
    train_classifiers,
)
from pyrodyn.models.mmvm import MultimodalVAE
from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
from pyrodyn.nn.fusion import MMVM, ProductOfExperts


def test_probe_separable_and_chance():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.normal(size=(200, 3)) + 4 * y[:, None]
    assert linear_probe_accuracy(x[:100], y[:100], x[100:], y[100:]) == 1.0
    noise = rng.normal(size=(200, 3))
    assert linear_probe_accuracy(noise[:100], y[:100], noise[100:], y[100:]) < 0.75


def test_probe_bad_inputs():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="disagree"):
        linear_probe_accuracy(x, y[:3], x, y)
    with pytest.raises(ValueError, match="two classes"):
        linear_probe_accuracy(x, np.zeros(4), x, y)
    with pytest.raises(ValueError, match="features"):
        linear_probe_accuracy(x, y, np.zeros((4, 3)), y)
    with pytest.raises(ValueError, match="non-finite"):
        linear_probe_accuracy(np.full((4, 2), np.nan), y, x, y)


def _data(seed):
    from pyrodyn.data.rats import rats_arrays

    a = rats_arrays((6, 5), trials_per_odour=10, bins=4, split="train" if seed == 0 else "test")
    label = a.pop("label")
    return MultimodalDataset(a, static=True, extras={"label": label})


@pytest.mark.parametrize("fusion", [MMVM, ProductOfExperts])
def test_model_metrics(fusion):
    train, test = _data(0), _data(1)
    model = MultimodalVAE(
        {"rat0": Poisson((4, 6)), "rat1": Poisson((4, 5))},
        {"rat0": StaticMLPEncoder((4, 6), 2, (8,)), "rat1": StaticMLPEncoder((4, 5), 2, (8,))},
        fusion(),
        decoder_hidden=(8,),
    )
    probes = probe_accuracies(model, train, test)
    assert set(probes) == {"latent", "latent_rat0", "latent_rat1"}
    assert all(0.0 <= v <= 1.0 for v in probes.values())
    clfs = train_classifiers(train, hidden=(8,), max_iter=50)
    coh = coherence(model, test, clfs)
    assert set(coh) == {"rat0->rat1", "rat1->rat0", "mean"}
    rec = reconstruction_nll(model, test)
    assert set(rec) == {"rat0", "rat1", "total"}
    assert rec["total"] == pytest.approx(rec["rat0"] + rec["rat1"])
    with pytest.raises(ValueError, match="no 'odour' array"):
        probe_accuracies(model, train, test, label="odour")


def test_registered():
    for name in ("probe_accuracy", "coherence", "reconstruction_nll"):
        spec = get_metric(name)
        assert spec.needs == ("model", "data")


def test_reconstruction_is_self_reconstruction_for_per_modality_latents():
    test = _data(1)
    model = MultimodalVAE(
        {"rat0": Poisson((4, 6)), "rat1": Poisson((4, 5))},
        {"rat0": StaticMLPEncoder((4, 6), 2, (8,)), "rat1": StaticMLPEncoder((4, 5), 2, (8,))},
        MMVM(),
        decoder_hidden=(8,),
    )
    batch = test.batch()
    rec = reconstruction_nll(model, batch)
    post, _ = model.posteriors(batch)
    params = model.decoders["rat1"](post["rat1"].loc)
    want = -model.likelihoods["rat1"].log_prob(params, batch.obs["rat1"]).mean().detach()
    assert rec["rat1"] == pytest.approx(float(want), rel=1e-5)


def test_evaluate_static_runs_every_registered_metric():
    from pyrodyn.metrics.probes import STATIC_METRICS, evaluate_static

    train, test = _data(0), _data(1)
    model = MultimodalVAE(
        {"rat0": Poisson((4, 6)), "rat1": Poisson((4, 5))},
        {"rat0": StaticMLPEncoder((4, 6), 2, (8,)), "rat1": StaticMLPEncoder((4, 5), 2, (8,))},
        MMVM(),
        decoder_hidden=(8,),
    )
    out = evaluate_static(model, test, train_data=train)
    assert list(out) == list(STATIC_METRICS)
    assert set(out["probe_accuracy"]) == {"latent", "latent_rat0", "latent_rat1"}
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_static(model, test, train_data=train, metrics=["nope"])

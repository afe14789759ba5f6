import numpy as np
import pytest

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.data.rotating_digits import _transform, make_rotating_digits, save_rotating_digits


def test_shapes_ranges_and_recipe():
    d = make_rotating_digits(num_trials=6, num_steps=15, num_neurons=7, seed=3)
    assert d["spikes"].shape == (6, 15, 7)
    assert d["images"].shape == (6, 15, 144)
    for k in ("true_angle", "true_zoom", "true_shared", "true_neural", "true_image"):
        assert d[k].shape == (6, 15)
    assert d["true_rates"].shape == (6, 15, 7)
    np.testing.assert_allclose(d["true_angle"], 120.0 * d["true_shared"], rtol=1e-5)
    np.testing.assert_allclose(d["true_zoom"], np.abs(d["true_image"]), rtol=1e-6)
    w, b = d["true_loadings"][0], d["true_offsets"][0]
    rates = np.exp(np.stack([d["true_shared"], d["true_neural"]], -1) @ w.T + b)
    np.testing.assert_allclose(d["true_rates"], rates, rtol=1e-4)
    assert (d["spikes"] >= 0).all() and (d["spikes"] == np.round(d["spikes"])).all()
    assert 0.0 <= d["images"].min() and d["images"].max() <= 1.0
    assert np.abs(w).max() <= 1.5 and np.abs(b).max() <= 0.5


def test_seeded_and_configurable(tmp_path):
    a = make_rotating_digits(num_trials=3, num_steps=8, num_neurons=4, seed=1)
    b = make_rotating_digits(num_trials=3, num_steps=8, num_neurons=4, seed=1)
    c = make_rotating_digits(num_trials=3, num_steps=8, num_neurons=4, seed=2)
    np.testing.assert_array_equal(a["spikes"], b["spikes"])
    assert not np.array_equal(a["true_angle"], c["true_angle"])
    big = make_rotating_digits(num_trials=2, num_steps=4, num_neurons=3, upsample=2)
    assert big["images"].shape == (2, 4, 400)
    path = tmp_path / "digits.npz"
    save_rotating_digits(path, num_trials=3, num_steps=8, num_neurons=4)
    ds = MultimodalDataset.from_npz(path)
    assert ds.modalities == ["spikes", "images"]
    assert "true_angle" in ds.extras and ds.num_steps == 8


def test_the_gps_have_the_recipe_variances():
    d = make_rotating_digits(num_trials=200, num_steps=10, num_neurons=2, seed=0)
    assert np.var(d["true_shared"]) == pytest.approx(0.3, rel=0.15)
    assert np.var(d["true_neural"]) == pytest.approx(0.5, rel=0.15)
    assert np.mean(d["true_image"]) == pytest.approx(1.0, abs=0.15)


def test_transform_rotates_and_zooms_about_the_centre():
    img = np.zeros((12, 12))
    img[2, 5:7] = 1.0  # a bar near the top
    np.testing.assert_allclose(_transform(img, 0.0, 1.0), img, atol=1e-12)
    rot = _transform(img, 180.0, 1.0)
    np.testing.assert_allclose(rot, img[::-1, ::-1], atol=1e-9)
    assert _transform(img, 0.0, 0.0).sum() == 0.0
    assert _transform(img, 0.0, 0.5).sum() < img.sum()


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_trials"):
        make_rotating_digits(num_trials=0)
    with pytest.raises(ValueError, match="digit"):
        make_rotating_digits(num_trials=1, digit=11)

import numpy as np
import pytest

from pyrodyn.metrics import get_metric, latent_d_stsp, latent_r2, procrustes_align


def _random_rotation(dim, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def test_latent_r2_affine_and_noise(lorenz_traj):
    z = lorenz_traj[:2000]
    a = np.random.default_rng(0).standard_normal((3, 5))
    pred = z @ a + 3.0
    assert latent_r2(z, pred) == pytest.approx(1.0, abs=1e-10)
    assert latent_r2(z, pred, fit_on=1000) == pytest.approx(1.0, abs=1e-10)
    noise = np.random.default_rng(1).standard_normal((2000, 3))
    assert abs(latent_r2(z, noise)) < 0.02
    assert latent_r2(z, noise, fit_on=0.5) < 0.02  # held-out R2 of noise is <= ~0
    # Batched (B, T, D) inputs are flattened.
    assert latent_r2(z.reshape(4, 500, 3), pred.reshape(4, 500, 5)) == pytest.approx(1.0)


def test_latent_r2_per_dim():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((500, 2))
    pred = np.c_[2 * z[:, 0] - 1, rng.standard_normal(500)]
    r2 = latent_r2(z, pred, mode="per_dim")
    assert r2.shape == (2,)
    assert r2[0] == pytest.approx(1.0) and abs(r2[1]) < 0.05
    mask = np.zeros(500, dtype=bool)
    mask[::2] = True
    assert latent_r2(z, pred, mode="per_dim", fit_on=mask)[0] == pytest.approx(1.0)


def test_latent_r2_bad_input():
    z = np.zeros((10, 2))
    with pytest.raises(ValueError, match="same number of rows"):
        latent_r2(z, np.zeros((9, 2)))
    with pytest.raises(ValueError, match="mode must be one of"):
        latent_r2(z, z, mode="cca")
    with pytest.raises(ValueError, match="per_dim' needs equal latent dimensions"):
        latent_r2(z, np.zeros((10, 3)), mode="per_dim")
    with pytest.raises(ValueError, match=r"fit_on as a fraction must be in \(0, 1\)"):
        latent_r2(z, z, fit_on=1.5)


def test_procrustes_recovers_rotation_scale_shift(lorenz_traj):
    x = lorenz_traj[:1000]
    rot = _random_rotation(3, 4)
    z = 0.3 * x @ rot.T - 2.0
    aligned, transform = procrustes_align(z, x, return_transform=True)
    np.testing.assert_allclose(aligned, x, atol=1e-10)
    np.testing.assert_allclose(
        transform(0.3 * lorenz_traj[1000:1100] @ rot.T - 2.0), lorenz_traj[1000:1100], atol=1e-10
    )
    # Extra latent dimensions are removed by PCA first.
    big = np.c_[z, 1e-3 * np.random.default_rng(0).standard_normal((1000, 2))]
    assert np.abs(procrustes_align(big, x) - x).max() < 0.01


def test_latent_d_stsp_procrustes(lorenz_traj):
    x = lorenz_traj[:4000]
    rot = _random_rotation(3, 5)
    z = np.c_[2.0 * x @ rot.T + 1.0, 0.01 * np.random.default_rng(0).standard_normal((4000, 2))]
    # z-scoring would inflate the two uninformative units, so compare without it here.
    assert latent_d_stsp(z, x, standardize_latent=False) < 0.01
    linear = x @ np.random.default_rng(3).standard_normal((3, 3)) + 5.0  # any invertible map
    assert latent_d_stsp(linear, x) < 0.01
    assert latent_d_stsp(linear, x_true_state=x) == latent_d_stsp(linear, x)
    blob = np.random.default_rng(1).standard_normal((4000, 3))
    assert latent_d_stsp(blob, x) > 0.5
    # A generated (unpaired) latent aligned with a map fitted on paired encoder latents.
    gen = np.c_[2.0 * lorenz_traj[4000:] @ rot.T + 1.0, np.zeros((len(lorenz_traj) - 4000, 2))]
    fitted = latent_d_stsp(gen, x, fit_latent=z, fit_state=x, standardize_latent=False)
    assert fitted < 0.3
    with pytest.raises(ValueError, match="row-aligned"):
        latent_d_stsp(gen[:1000], x)
    with pytest.raises(ValueError, match="exactly once"):
        latent_d_stsp(z)


def test_latent_d_stsp_rotation_grid(lorenz_traj):
    x = lorenz_traj[:3000]
    # A general linear image of the state (whitening reduces it to an orthogonal map), shuffled
    # in time: the grid search needs no pairing. A coarse grid gets close, a finer one closer.
    z = x @ np.random.default_rng(3).standard_normal((3, 3))
    shuffled = z[np.random.default_rng(0).permutation(3000)]
    kw = dict(align="rotation_grid", grid_step=0.5, num_points=2000)
    plain = latent_d_stsp(shuffled, x, refine=0, **kw)
    refined = latent_d_stsp(shuffled, x, refine=200, **kw)
    assert refined <= plain
    assert refined < 0.7
    blob = np.random.default_rng(1).standard_normal((3000, 3))
    assert latent_d_stsp(blob, x, align="rotation_grid", grid_step=1.0, refine=50) > 1.0
    assert get_metric("latent_d_stsp").needs == ("latent_pred", "latent_true")
    assert get_metric("latent_r2").needs == ("latent_true", "latent_pred")

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


def _r2_reference(target, pred):
    """sklearn-style R2 per column, written out."""
    resid = ((target - pred) ** 2).sum(0)
    total = ((target - target.mean(0)) ** 2).sum(0)
    return 1.0 - resid / total


def test_latent_r2_matches_a_hand_fit_with_held_out_rows():
    rng = np.random.default_rng(7)
    pred = rng.standard_normal((40, 2))
    # small-variance targets with distinct means, only partly explained by pred
    true = np.c_[0.05 * pred[:, 0] + 3.0, -2.0 + 0.05 * rng.standard_normal(40)] * 0.1
    design = np.c_[pred, np.ones(40)]

    def held_out(fit, held):
        w = np.linalg.lstsq(design[fit], true[fit], rcond=None)[0]
        return _r2_reference(true[held], design[held] @ w)

    all_rows = np.ones(40, dtype=bool)
    assert latent_r2(true, pred) == pytest.approx(held_out(all_rows, all_rows).mean(), rel=1e-10)
    first = np.arange(40) < 30
    want = held_out(first, ~first).mean()
    assert latent_r2(true, pred, fit_on=30) == pytest.approx(want, rel=1e-10)
    assert latent_r2(true, pred, fit_on=0.75) == pytest.approx(want, rel=1e-10)
    assert latent_r2(true, pred, fit_on=first) == pytest.approx(want, rel=1e-10)
    idx = np.array([5, 1, 30, 12, 7, 22, 39, 0])
    chosen = np.isin(np.arange(40), idx)
    want = held_out(chosen, ~chosen).mean()
    assert latent_r2(true, pred, fit_on=idx) == pytest.approx(want, rel=1e-10)
    assert latent_r2(true, pred, fit_on=list(idx)) == pytest.approx(want, rel=1e-10)
    # per_dim: dimension d of true on dimension d of pred alone
    per = latent_r2(true, pred, mode="per_dim", fit_on=idx)
    for d in range(2):
        des = np.c_[pred[:, d], np.ones(40)]
        w = np.linalg.lstsq(des[chosen], true[chosen, d], rcond=None)[0]
        want_d = _r2_reference(true[~chosen, d : d + 1], (des[~chosen] @ w)[:, None])[0]
        assert per[d] == pytest.approx(want_d, rel=1e-10)


def test_latent_r2_of_an_exactly_reproduced_constant_dimension_is_one():
    z = np.c_[np.arange(6.0), np.zeros(6)]
    np.testing.assert_array_equal(latent_r2(z, z, mode="per_dim"), [1.0, 1.0])


def test_latent_r2_fit_on_boundaries():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((10, 2))
    # the extremes that still leave >= 2 fit rows and >= 1 held-out row
    for fit_on in (2, 9, np.arange(2), np.arange(9), np.arange(10) < 9):
        assert np.isfinite(latent_r2(z, z + 1.0, fit_on=fit_on))
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"fit_on as a fraction must be in \(0, 1\)"):
            latent_r2(z, z, fit_on=bad)
    for bad in (0, 10):
        with pytest.raises(ValueError, match=r"fit_on as a row count must be in 1\.\.9"):
            latent_r2(z, z, fit_on=bad)
    for bad, fit, held in [
        (1, 1, 9),
        (0.1, 1, 9),
        (np.array([3]), 1, 9),
        (np.ones(10, dtype=bool), 10, 0),
        (np.arange(10), 10, 0),
    ]:
        with pytest.raises(ValueError, match=f"got {fit} and {held}$"):
            latent_r2(z, z, fit_on=bad)
    with pytest.raises(ValueError, match=r"fit_on as a mask must have shape \(10,\)"):
        latent_r2(z, z, fit_on=np.ones(9, dtype=bool))


def test_procrustes_closed_forms():
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    x = np.c_[np.cos(t), np.sin(t)] * 0.01 + np.array([3.0, -1.0])  # small, off-centre
    rot = _random_rotation(2, 1)
    z = 0.5 * x @ rot.T + 7.0  # sum of squares of the centred z far below 1
    np.testing.assert_allclose(procrustes_align(z, x), x, atol=1e-12)
    # fewer latent dimensions than the target: the best rank-1 map, exact for a line
    line = np.c_[2 * t + 1, -t + 3]
    np.testing.assert_allclose(procrustes_align(t, line), line, atol=1e-10)
    # more: PCA first. The second unit has 10x the variance of the first and no covariance with
    # x, so the leading direction carries nothing about x and the fit is its mean
    z2 = np.c_[np.cos(t), 10 * np.sin(t)] + np.array([50.0, -30.0])
    target = np.cos(t) + 5.0
    np.testing.assert_allclose(procrustes_align(z2, target), np.full((64, 1), 5.0), atol=1e-12)
    # a constant latent: the mean of x, and a unit-scale map for new latents
    aligned, transform = procrustes_align(np.ones((64, 2)), x, return_transform=True)
    np.testing.assert_allclose(aligned, np.broadcast_to(x.mean(0), x.shape), atol=1e-15)
    a, b = transform(np.array([[1.0, 1.0], [4.0, 5.0]]))
    assert np.linalg.norm(a - b) == pytest.approx(5.0)


def test_procrustes_names_its_inputs_in_errors():
    good = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"^z must have shape"):
        procrustes_align(np.zeros((5, 2, 2, 2)), good)
    with pytest.raises(ValueError, match=r"^x must be finite"):
        procrustes_align(good, np.full((5, 2), np.nan))
    _, transform = procrustes_align(
        np.random.default_rng(0).normal(size=(5, 2)), good + 1, return_transform=True
    )
    with pytest.raises(TypeError, match=r"^z must be array-like of numbers, got str"):
        transform("latent")


def test_whitener_round_trip_is_exact_at_full_dimension():
    from pyrodyn.metrics.latent import _Whitener

    data = np.random.default_rng(0).standard_normal((50, 3)) @ np.diag([1.0, 5.0, 0.2]) + 4.0
    for standardize in (True, False):
        w = _Whitener(data, 3, standardize)
        white = w(data)
        np.testing.assert_allclose(white.mean(0), 0.0, atol=1e-12)
        np.testing.assert_allclose(white.std(0), 1.0, atol=1e-12)
        np.testing.assert_allclose(w.inverse(white), data, atol=1e-12)


def test_row_validation_boundaries():
    # two rows are enough for a fit (a line through two points is exact)
    np.testing.assert_allclose(procrustes_align([1.0, 3.0], [[5.0], [-1.0]]), [[5.0], [-1.0]])
    for bad in (np.zeros((1, 2)), np.zeros((5, 0)), np.zeros((2, 2, 2, 2))):
        with pytest.raises(ValueError, match=r"^latent_true must have shape .* with >= 2 rows"):
            latent_r2(bad, np.zeros((5, 2)))
    with pytest.raises(TypeError, match=r"^latent_pred must be array-like of numbers, got str"):
        latent_r2(np.zeros((5, 2)), "abc")


def test_rodrigues_rotation_matches_scipy():
    from scipy.spatial.transform import Rotation

    from pyrodyn.metrics.latent import _rotation

    rng = np.random.default_rng(0)
    for _ in range(5):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = rng.uniform(-np.pi, np.pi)
        want = Rotation.from_rotvec(angle * axis).as_matrix()
        np.testing.assert_allclose(_rotation(axis, angle), want, atol=1e-12)


def test_rotation_grid_sizes_and_angles():
    from scipy.spatial.transform import Rotation

    from pyrodyn.metrics.latent import _rotation_grid

    # 2-D: angles pi * t for t in [-1, 1) at the step
    mats = _rotation_grid(2, 0.5)
    assert len(mats) == 4
    for m, t in zip(mats, [-1.0, -0.5, 0.0, 0.5]):
        a = np.pi * t
        np.testing.assert_allclose(m, [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], atol=1e-12)
    # 3-D: the identity, then every nonzero axis of the grid cube at every grid angle: the
    # documented 625 rotations at step 0.4 and the reference's 10^4 at step 0.2
    assert len(_rotation_grid(3, 0.4)) == 1 + 5**3 * 5
    assert len(_rotation_grid(3, 0.2)) == 1 + 10**3 * 10
    mats = _rotation_grid(3, 0.5)  # grid -1, -0.5, 0, 0.5: the zero axis is skipped
    assert len(mats) == 1 + (4**3 - 1) * 4
    np.testing.assert_array_equal(mats[0], np.eye(3))
    grid = [-1.0, -0.5, 0.0, 0.5]
    want = []
    for a in grid:
        for b in grid:
            for c in grid:
                axis = np.array([a, b, c])
                if np.any(axis):
                    axis = axis / np.linalg.norm(axis)
                    want += [Rotation.from_rotvec(np.pi * t * axis).as_matrix() for t in grid]
    np.testing.assert_allclose(np.array(mats[1:]), np.array(want), atol=1e-12)


def test_rotation_grid_search_undoes_a_rotation_exactly(lorenz_traj):
    # a rotated, scaled, shifted copy of the z-scored state: PCA whitening leaves only sign
    # flips between the two, i.e. a rotation by 0 or pi (on the grid) times an optional mirror
    kw = dict(align="rotation_grid", grid_step=0.5, standardize_latent=False)
    for d, n, mirrors, refine in ((2, 1500, (False, True), 10), (3, 400, (True,), 3)):
        x = lorenz_traj[:n, :d]
        xs = (x - x.mean(0)) / x.std(0)
        for mirror in mirrors:
            z = 3.0 * xs @ _random_rotation(d, d) + 5.0
            if mirror:
                z[:, 0] *= -1
            assert latent_d_stsp(z, x, refine=0, **kw) == pytest.approx(0.0, abs=1e-12)
        assert latent_d_stsp(z, x, refine=refine, **kw) == pytest.approx(0.0, abs=1e-12)
    # unrelated noise: refinement lowers the grid minimum, reproducibly for a seed
    x = lorenz_traj[:1000, :2]
    blob = np.random.default_rng(0).normal(size=(1000, 2))
    kw = dict(align="rotation_grid", grid_step=0.5)
    plain = latent_d_stsp(blob, x, refine=0, **kw)
    refined = latent_d_stsp(blob, x, refine=60, seed=1, **kw)
    assert 0.05 < refined < plain
    assert latent_d_stsp(blob, x, refine=60, seed=1, **kw) == refined


def test_rotation_grid_minimum_matches_a_hand_search(lorenz_traj):
    from pyrodyn.metrics.state_space import d_stsp

    def zscore(a):
        return (a - a.mean(0)) / a.std(0)

    def whiten(a):
        basis = np.linalg.svd(a - a.mean(0), full_matrices=False)[2].T
        proj = a @ basis
        return (proj - proj.mean(0)) / proj.std(0), basis, proj.std(0)

    # a latent with its own structure; only the first 300 points are compared, so their
    # whitened image is not exactly standardised and the search re-standardises each candidate
    x = lorenz_traj[:1000, :2]
    latent = np.c_[lorenz_traj[:1000, 2], np.random.default_rng(0).normal(size=1000)]
    n = 300
    zw = whiten(zscore(latent))[0][:n]
    _, basis, proj_sd = whiten(zscore(x))
    back = proj_sd[:, None] * basis.T  # whitened -> state frame, up to a shift
    values = []
    for t in (-1.0, -0.5, 0.0, 0.5):
        a = np.pi * t
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        for mirror in (np.eye(2), np.diag([-1.0, 1.0])):
            cand = zscore(zw @ mirror @ rot.T @ back)
            values.append(d_stsp(zscore(x)[:n], cand, n_bins=10, bin_range="legacy"))
    assert np.argmin(values) == 7  # the best is mirrored, at t = 0.5
    kw = dict(align="rotation_grid", grid_step=0.5, refine=0, num_points=n)
    assert latent_d_stsp(latent, x, **kw) == pytest.approx(min(values), rel=1e-12)
    # the true state is z-scored first: its units do not matter
    assert latent_d_stsp(latent, 5.0 * x + 3.0, **kw) == pytest.approx(min(values), rel=1e-9)
    # without reflections, only the unmirrored candidates
    got = latent_d_stsp(latent, x, reflections=False, **kw)
    assert got == pytest.approx(min(values[::2]), rel=1e-12)
    # the refinement: random small rotations around the best, the step halved every 50 tries
    best = min(values)
    best_rot = np.array([[0.0, -1.0], [1.0, 0.0]])  # t = 0.5, the grid's best (mirrored)
    latent_w = zw @ np.diag([-1.0, 1.0])
    rng, width = np.random.default_rng(3), np.pi * 0.5 / 2
    for i in range(60):
        skew = rng.standard_normal((2, 2)) * width
        q, r = np.linalg.qr(np.eye(2) + (skew - skew.T) / 2)
        small = q * np.sign(np.diag(r))
        if np.linalg.det(small) < 0:
            small[:, 0] *= -1
        rot = small @ best_rot
        value = d_stsp(zscore(x)[:n], zscore(latent_w @ rot.T @ back), n_bins=10)
        if value < best:
            best, best_rot = value, rot
        if (i + 1) % 50 == 0:
            width /= 2
    assert best < min(values)
    kw["refine"] = 60
    assert latent_d_stsp(latent, x, seed=3, **kw) == pytest.approx(best, rel=1e-12)
    # a constant latent: every candidate is the origin, not NaN
    zero = latent_d_stsp(np.zeros((1000, 2)), x, align="rotation_grid", grid_step=0.5, refine=0)
    assert zero == pytest.approx(d_stsp(zscore(x), np.zeros((1000, 2)), n_bins=10), rel=1e-12)

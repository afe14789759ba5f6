import numpy as np
import pytest

from pyrodyn.metrics import affine_latent_d_stsp, d_stsp, get_metric


def _reference(gen, truth, fit_latent, fit_state):
    """numpy lstsq of [latent, 1] -> state, applied to ``gen``; D_stsp in the truth's z-frame."""
    design = np.c_[fit_latent, np.ones(len(fit_latent))]
    coef = np.linalg.lstsq(design, fit_state, rcond=None)[0]
    mapped = np.c_[gen, np.ones(len(gen))] @ coef
    mean, sd = truth.mean(0), truth.std(0)
    return d_stsp((truth - mean) / sd, (mapped - mean) / sd, n_bins=10, bin_range="legacy")


@pytest.fixture(scope="module")
def pair(lorenz_traj):
    """A 5-unit latent that is a noisy nonlinear image of the state (training part and a
    generated continuation), and the true states; not an exact affine image."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 5))

    def latent(x):
        return np.tanh(0.5 * x @ a) + 0.05 * rng.standard_normal((len(x), 5)) + 2.0

    return latent(lorenz_traj[:4000]), lorenz_traj[:4000], latent(lorenz_traj[4000:])


def test_matches_a_numpy_lstsq_reference(pair, lorenz_traj):
    fit_latent, fit_state, gen = pair
    truth = 3.0 * lorenz_traj[4000:] + 1.0  # the truth's own frame: scale and offset
    fit_state = 3.0 * fit_state + 1.0
    got = affine_latent_d_stsp(gen, truth, fit_latent=fit_latent, fit_state=fit_state)
    assert got == pytest.approx(_reference(gen, truth, fit_latent, fit_state), rel=1e-12)
    assert np.isfinite(got) and got > 0.01  # not a trivial case
    # without a fit pair the map is fitted on (latent_pred, truth) themselves
    paired = pair[2][: len(truth)]
    assert affine_latent_d_stsp(paired, x_true_state=truth) == pytest.approx(
        _reference(paired, truth, paired, truth), rel=1e-12
    )
    assert get_metric("affine_latent_d_stsp").needs == ("latent_pred", "latent_true")


def test_an_exact_affine_image_scores_as_the_state_itself(lorenz_traj):
    x_fit, x_test = lorenz_traj[:4000], lorenz_traj[4000:]
    a = np.random.default_rng(1).standard_normal((3, 6))  # rank 3: a redundant 6-unit latent
    got = affine_latent_d_stsp(
        x_test @ a - 4.0, x_test, fit_latent=x_fit @ a - 4.0, fit_state=x_fit
    )
    assert got == pytest.approx(d_stsp(*[(x_test - x_test.mean(0)) / x_test.std(0)] * 2))
    assert got < 1e-6


def test_an_offset_carried_from_the_fit_counts(lorenz_traj):
    # the generated latent drifts by one state sd after the map: a re-standardised (or
    # Procrustes-refitted) score would not see it; this one must
    x_fit, x_test = lorenz_traj[:4000], lorenz_traj[4000:]
    a = np.random.default_rng(2).standard_normal((3, 3))
    good = affine_latent_d_stsp(x_test @ a, x_test, fit_latent=x_fit @ a, fit_state=x_fit)
    shifted = affine_latent_d_stsp(
        (x_test + 1.0) @ a, x_test, fit_latent=x_fit @ a, fit_state=x_fit
    )
    assert good < 1e-6 and shifted > 0.5
    scaled = affine_latent_d_stsp((2.0 * x_test) @ a, x_test, fit_latent=x_fit @ a, fit_state=x_fit)
    assert scaled > 0.5


def test_bad_input_messages(pair):
    fit_latent, fit_state, gen = pair
    with pytest.raises(ValueError, match="exactly once"):
        affine_latent_d_stsp(gen)
    with pytest.raises(ValueError, match="exactly once"):
        affine_latent_d_stsp(gen, fit_state, x_true_state=fit_state)
    with pytest.raises(ValueError, match="must be given together"):
        affine_latent_d_stsp(gen, fit_state, fit_latent=fit_latent)
    with pytest.raises(ValueError, match="got 3999 latent rows and 4000 state rows"):
        affine_latent_d_stsp(gen, fit_state, fit_latent=fit_latent[1:], fit_state=fit_state)
    with pytest.raises(ValueError, match="fit_latent has 4 dimensions and latent_pred 5"):
        affine_latent_d_stsp(gen, fit_state, fit_latent=fit_latent[:, :4], fit_state=fit_state)
    with pytest.raises(ValueError, match="fit_state has 2 dimensions and the true state 3"):
        affine_latent_d_stsp(gen, fit_state, fit_latent=fit_latent, fit_state=fit_state[:, :2])
    with pytest.raises(ValueError, match="latent_pred must be finite"):
        affine_latent_d_stsp(
            np.full_like(gen, np.nan), fit_state, fit_latent=fit_latent, fit_state=fit_state
        )

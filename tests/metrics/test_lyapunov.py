import math

import numpy as np
import pytest
import torch

from pyrodyn.data.systems import Lorenz63
from pyrodyn.metrics import get_metric, lyapunov_spectrum, max_lyapunov


def test_lorenz63_maximal_exponent():
    system = Lorenz63()
    lam = max_lyapunov(
        lambda x: system.step(x, 0.05),
        lambda x: system.step_jacobian(x, 0.05),
        np.array([1.0, 1.0, 1.0]),
        num_steps=3000,
        dt=0.05,
    )
    assert 0.8 < lam < 1.0


def test_logistic_map_finite_differences_and_autograd():
    # x -> 4 x (1 - x) has lambda = ln 2 exactly.
    lam_fd = max_lyapunov(lambda x: 4 * x * (1 - x), x0=np.array([0.3]), num_steps=2000)
    assert lam_fd == pytest.approx(math.log(2), abs=0.05)
    x0 = torch.tensor([0.3], dtype=torch.float64)
    lam_ad = max_lyapunov(lambda x: 4 * x * (1 - x), x0=x0, num_steps=1000, transient=20)
    assert lam_ad == pytest.approx(math.log(2), abs=0.08)


def test_linear_map_spectrum_is_exact():
    a = np.diag([2.0, 0.5, 0.1])
    rot = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0]
    m = rot @ a @ rot.T
    want = np.log([2.0, 0.5, 0.1])
    # The state stays at the fixed point 0; the QR estimate converges like 1/num_steps.
    spec = lyapunov_spectrum(lambda x: m @ x, lambda x: m, np.zeros(3), num_steps=500)
    np.testing.assert_allclose(spec, want, atol=0.01)
    spec_fd = lyapunov_spectrum(lambda x: m @ x, None, np.zeros(3), num_steps=500)
    np.testing.assert_allclose(spec_fd, spec, atol=1e-6)
    spec_dt = lyapunov_spectrum(lambda x: m @ x, lambda x: m, np.zeros(3), num_steps=500, dt=0.5)
    np.testing.assert_allclose(spec_dt, 2 * spec, atol=1e-12)
    top = max_lyapunov(lambda x: m @ x, lambda x: m, np.zeros(3), num_steps=500)
    assert top == pytest.approx(np.log(2.0), abs=0.01)


def test_registered_and_bad_input():
    assert get_metric("lyapunov").fn is max_lyapunov
    assert get_metric("lyapunov").needs == ("step",)
    with pytest.raises(ValueError, match="x0"):
        max_lyapunov(lambda x: x)
    with pytest.raises(ValueError, match="renorm_every must be an int >= 1"):
        max_lyapunov(lambda x: x, x0=np.zeros(2), renorm_every=0)
    with pytest.raises(ValueError, match=r"must return a \(2, 2\) matrix"):
        max_lyapunov(lambda x: x, lambda x: np.eye(3), np.zeros(2), num_steps=2)

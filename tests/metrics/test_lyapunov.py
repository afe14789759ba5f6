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


def _henon(x):
    return np.array([1.0 - 1.4 * x[0] ** 2 + x[1], 0.3 * x[0]])


def _henon_jacobian(x):
    return np.array([[-2.8 * x[0], 1.0], [0.3, 0.0]])


def test_henon_spectrum_and_documented_defaults():
    x0 = np.array([0.1, 0.1])
    spec = lyapunov_spectrum(_henon, _henon_jacobian, x0)
    # reference values of the Henon map (a = 1.4, b = 0.3): 0.419 and ln(0.3) - 0.419; the sum
    # is ln |det J| = ln 0.3 at every step, so it holds to rounding
    assert spec[0] == pytest.approx(0.419, abs=0.01)
    assert spec.sum() == pytest.approx(math.log(0.3), abs=1e-10)
    explicit = lyapunov_spectrum(
        _henon, _henon_jacobian, x0, num_steps=4000, transient=200, renorm_every=5
    )
    np.testing.assert_array_equal(spec, explicit)
    # num_exponents=1 is the leading exponent (from the same start it is the same estimate)
    top = lyapunov_spectrum(_henon, _henon_jacobian, x0, num_exponents=1)
    assert top.shape == (1,) and top[0] == pytest.approx(spec[0], abs=1e-12)


def test_one_dimensional_linear_map_is_exact_for_any_schedule():
    # every renormalisation (every 3 steps and the last, step 7) adds 3 * ln 3 or ln 3 exactly
    for num_steps, every in [(7, 3), (1, 1), (6, 2)]:
        spec = lyapunov_spectrum(
            lambda x: 3.0 * x, lambda x: [[3.0]], [1.0], num_steps=num_steps, renorm_every=every
        )
        assert spec == pytest.approx([math.log(3.0)], rel=1e-12)


def test_overflow_between_renormalisations_gives_nan():
    def grow(x):
        return 1e120 * x

    def jac(x):
        return [[1e120]]

    # three unrenormalised steps reach 1e360 > float max; renormalising every step does not
    with np.errstate(over="ignore"):
        spec = lyapunov_spectrum(grow, jac, [0.0], num_steps=3, renorm_every=3)
        assert np.isnan(max_lyapunov(grow, jac, [0.0], num_steps=3, renorm_every=3))
    assert spec.dtype == np.float64 and spec.shape == (1,) and np.isnan(spec).all()
    spec = lyapunov_spectrum(grow, jac, [0.0], num_steps=3, renorm_every=1)
    assert spec == pytest.approx([120 * math.log(10.0)], rel=1e-12)


def test_schedule_validation_boundaries():
    step = lambda x: 0.5 * x  # noqa: E731
    # the smallest allowed values
    spec = lyapunov_spectrum(step, None, [1.0], num_steps=1, transient=0, renorm_every=1)
    assert spec == pytest.approx([math.log(0.5)], rel=1e-6)
    for kwargs, msg in [
        ({"num_steps": 0}, r"^num_steps must be an int >= 1"),
        ({"num_steps": 2.0}, r"^num_steps must be an int >= 1"),
        ({"transient": -1}, r"^transient must be an int >= 0"),
        ({"renorm_every": 0}, r"^renorm_every must be an int >= 1"),
        ({"dt": 0.0}, r"^dt must be > 0"),
        ({"num_exponents": 2}, r"^num_exponents must be in 1\.\.1"),
    ]:
        with pytest.raises(ValueError, match=msg):
            lyapunov_spectrum(step, None, [1.0], **kwargs)


def test_numpy_states_reach_the_map_as_float64():
    seen = []

    def step(x):
        seen.append(np.asarray(x).dtype)
        return (0.5 * x).astype(np.float32)  # a map that returns another dtype

    spec = lyapunov_spectrum(step, lambda x: [[0.5]], [1], num_steps=3, transient=2)
    assert spec == pytest.approx([math.log(0.5)], rel=1e-12)
    assert seen and all(d == np.float64 for d in seen)


def test_torch_map_autograd_and_tensor_jacobian():
    a = np.diag([2.0, 0.5, 0.1])
    rot = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0]
    weight = torch.nn.Parameter(torch.as_tensor(rot @ a @ rot.T))

    def step(x):
        return weight @ x  # torch-only: a numpy state would fail here

    x0 = torch.zeros(3, dtype=torch.float64)
    want = np.log([2.0, 0.5])
    spec = lyapunov_spectrum(step, None, x0, num_exponents=2, num_steps=200)
    np.testing.assert_allclose(spec, want, atol=0.02)
    # a Jacobian that still requires grad (the parameter itself) is detached
    spec_jac = lyapunov_spectrum(step, lambda x: weight, x0, num_exponents=2, num_steps=200)
    np.testing.assert_allclose(spec_jac, spec, atol=1e-12)


def test_finite_difference_step_scales_with_the_state():
    # |x - c - d| - d + c: fixed point c, slope -1 there, a kink d away; central differences
    # with step 1e-6 * max(1, |c|) stay left of the kink and see |slope| = 1, exponent 0
    for c, d in [(0.0, 1.5e-6), (1e6, 1.5)]:

        def kink(x, c=c, d=d):
            return c + np.abs(x - c - d) - d

        lam = max_lyapunov(kink, x0=np.array([c]), num_steps=10, transient=0)
        assert lam == pytest.approx(0.0, abs=1e-9)


def test_constant_map_collapses_every_tangent_vector():
    # zero tangent vectors stay zero between renormalisations: the exponents hit the floor
    spec = lyapunov_spectrum(
        lambda x: np.array([1.0, 2.0]), None, np.zeros(2), num_steps=4, renorm_every=2
    )
    assert spec.shape == (2,) and np.all(spec < -100)


def test_axis_aligned_map_leads_with_the_most_expanding_direction():
    # Regression: from identity tangent vectors, diag(0.1, 2) gave ln 0.1 as the "maximal"
    # exponent, since the first vector never left the contracting axis.
    m = np.diag([0.1, 2.0, 0.5])
    want = np.log([2.0, 0.5, 0.1])
    for jac in (lambda x: m, None):
        spec = lyapunov_spectrum(lambda x: m @ x, jac, np.zeros(3), num_steps=200)
        np.testing.assert_allclose(spec, want, atol=0.02)
        top = max_lyapunov(lambda x: m @ x, jac, np.zeros(3), num_steps=200)
        assert top == pytest.approx(math.log(2.0), abs=0.02)

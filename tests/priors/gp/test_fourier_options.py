"""FourierGPPrior's options, grids and time steps against hand-computed references."""

import math

import gpytorch
import numpy as np
import pytest
import torch
from gpytorch.kernels import PeriodicKernel, RBFKernel

from pyrodyn.priors.base import PriorContext
from pyrodyn.priors.gp import FourierGPPrior, NoClosedFormError

# every 2-3-5-smooth integer below 2**30 divides this number
_SMOOTH = 2**30 * 3**19 * 5**13


def _rbf(ell, batch=()):
    k = RBFKernel(batch_shape=torch.Size(batch))
    k.lengthscale = ell
    return k


def _smallest_smooth_at_least(m):
    while _SMOOTH % m:
        m += 1
    return m


def _rbf_decay_lag(ell, dt, tol):
    """``(last + 1) dt`` with ``last`` the last grid lag where ``k(lag) > tol k(0)`` (numpy)."""
    lags = np.arange(100000) * dt
    above = np.exp(-0.5 * (lags / ell) ** 2) > tol
    return (np.flatnonzero(above).max() + 1) * dt


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spectral": "exact"}, "spectral must be"),
        ({"method": "dense"}, "method must be"),
        ({"padding_tol": 0.0}, "padding_tol must be positive"),
        ({"condthresh": 0.0}, r"condthresh must be >= 1 \(a dynamic range\), got 0.0"),
        ({"condthresh": -5.0}, r"condthresh must be >= 1 \(a dynamic range\), got -5.0"),
        ({"condthresh": 0.5}, r"condthresh must be >= 1 \(a dynamic range\), got 0.5"),
        ({"padding_margin": 0.99}, "padding_margin and bandwidth must be >= 1"),
        ({"bandwidth": 0.99}, "padding_margin and bandwidth must be >= 1"),
        ({"jitter": -1e-6}, "jitter and padding must be >= 0"),
        ({"padding": -0.5}, "jitter and padding must be >= 0"),
        ({"dt": 0.0}, "dt must be positive"),
        ({"dt": -0.1}, "dt must be positive"),
    ],
)
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FourierGPPrior(kernel=_rbf(3.0), **kwargs)


def test_boundary_options_are_accepted():
    prior = FourierGPPrior(
        kernel=_rbf(3.0),
        padding_tol=0.5,
        condthresh=1.0,
        padding_margin=1.0,
        bandwidth=1.0,
        jitter=0.0,
        padding=0.5,
        dt=0.5,
    )
    assert prior.basis(10, 0.5).n == _smallest_smooth_at_least(11)  # 0.5 time units: 1 step


@pytest.mark.parametrize("spectral", ["auto", "closed_form", "fft"])
@pytest.mark.parametrize("method", ["auto", "matmul", "fft"])
def test_every_documented_option_runs(spectral, method):
    prior = FourierGPPrior(kernel=_rbf(3.0), spectral=spectral, method=method)
    ctx = PriorContext(num_sequences=2, num_steps=12)
    assert prior.sample(ctx).shape == (2, 12, 1)
    assert prior.basis(12).use_fft == (method == "fft")


def test_method_is_passed_to_every_grid():
    assert not FourierGPPrior(kernel=_rbf(3.0), method="matmul").basis(600).use_fft
    assert FourierGPPrior(kernel=_rbf(3.0), method="fft").basis(20).use_fft


def test_closed_form_spectrum_is_checked_at_construction():
    kernel = PeriodicKernel() * _rbf(10.0)
    with pytest.raises(NoClosedFormError):
        FourierGPPrior(kernel=kernel, spectral="closed_form")


@pytest.mark.parametrize(
    ("num_steps", "padding", "dt"),
    [
        (2, 1.0, 1.0),
        (20, 5.0, 1.0),
        (21, 5.0, 1.0),
        (29, 1.0, 1.0),
        (20, 5.0, 0.5),
        (38, 3.0, 0.25),
        (61, 10.0, 1.0),
        (97, 2.0, 1.0),
    ],
)
def test_fixed_padding_gives_the_smallest_fast_circle(num_steps, padding, dt):
    """``n`` is the smallest 2-3-5-smooth integer ``>= T + ceil(padding / dt)``."""
    prior = FourierGPPrior(kernel=_rbf(0.7), padding=padding, max_frequency=math.inf)
    b = prior.basis(num_steps, dt)
    assert b.n == _smallest_smooth_at_least(num_steps + math.ceil(padding / dt))
    assert b.num_steps == num_steps and b.dt == dt


def test_default_padding_is_the_margin_times_the_decay_lag():
    for dt in (1.0, 0.5):
        prior = FourierGPPrior(kernel=_rbf(4.0))
        prior.basis(30, dt)
        assert float(prior.padding) == pytest.approx(1.5 * _rbf_decay_lag(4.0, dt, 1e-4))
    prior = FourierGPPrior(kernel=_rbf(4.0), padding_tol=1e-2, padding_margin=2.0)
    prior.basis(30, 1.0)
    assert float(prior.padding) == pytest.approx(2.0 * _rbf_decay_lag(4.0, 1.0, 1e-2))


def test_grids_are_cached_per_length_and_step():
    prior = FourierGPPrior(kernel=_rbf(3.0))
    a = prior.basis(30, 0.1)
    assert prior.basis(30, 0.1) is a
    assert prior.basis(30, 0.1 + 1e-13) is a  # round-off in dt does not make a new grid
    b = prior.basis(30, 0.2)
    assert b is not a and (a.dt, b.dt) == (0.1, 0.2)
    assert prior.basis(31, 0.1).num_steps == 31


def test_thresholds_do_not_change_the_kernel_dtype():
    prior = FourierGPPrior(kernel=_rbf(3.0))
    prior.basis(30)
    assert all(p.dtype == torch.float32 for p in prior.kernel.parameters())


def _dt(prior, num_steps, times=None, lengths=None):
    ctx = PriorContext(
        num_sequences=1 if times is None else times.shape[0],
        num_steps=num_steps,
        times=times,
        lengths=lengths,
    )
    return prior.resolve_dt(ctx)


def test_time_step_comes_from_dt_then_times_then_one():
    assert _dt(FourierGPPrior(kernel=_rbf(3.0), dt=0.5), 10) == 0.5
    assert FourierGPPrior(kernel=_rbf(3.0), dt=0.5).grid(PriorContext(1, 10)).dt == 0.5
    assert _dt(FourierGPPrior(kernel=_rbf(3.0)), 10) == 1.0
    prior = FourierGPPrior(kernel=_rbf(3.0))
    two = torch.tensor([[0.0, 0.5], [2.0, 2.5]], dtype=torch.float64)
    assert _dt(prior, 2, two) == 0.5  # a two-step trial has one step


def test_padded_steps_of_shorter_trials_are_ignored():
    times = (0.25 * torch.arange(8, dtype=torch.float64)).repeat(3, 1)
    times[1, 5:] = 0.0  # padding after a 5-step trial
    times[2, 3:] = -1.0
    prior = FourierGPPrior(kernel=_rbf(3.0))
    assert _dt(prior, 8, times, torch.tensor([8, 5, 3])) == 0.25
    with pytest.raises(ValueError, match="regularly spaced"):
        _dt(prior, 8, times)  # without lengths the padding is irregular


def test_integer_stamps_get_the_relative_tolerance_only():
    """Millisecond stamps of a 1 s grid: 1 ms off is within 1e-3 of the step, 2 ms is not."""
    prior = FourierGPPrior(kernel=_rbf(3000.0))
    stamps = 1000 * torch.arange(6).repeat(2, 1)
    assert _dt(prior, 6, stamps) == 1000.0
    stamps[1, 3:] += 1
    assert _dt(prior, 6, stamps) == 1000.0
    stamps = 1000 * torch.arange(6).repeat(2, 1)
    stamps[1, 4:] += 2
    with pytest.raises(ValueError, match="regularly spaced"):
        _dt(prior, 6, stamps)


def test_float64_stamps_get_float64_rounding_allowance():
    prior = FourierGPPrior(kernel=_rbf(3.0))
    stamps = 1000.0 + 0.05 * torch.arange(20, dtype=torch.float64)[None]
    assert _dt(prior, 20, stamps) == pytest.approx(0.05, rel=1e-9)
    stamps[0, 10:] += 1e-4  # 2e-3 of a step: beyond float64 rounding
    with pytest.raises(ValueError, match="regularly spaced"):
        _dt(prior, 20, stamps)


def test_constant_stamps_are_refused():
    with pytest.raises(ValueError, match="regularly spaced"):
        _dt(FourierGPPrior(kernel=_rbf(3.0)), 5, torch.full((1, 5), 3.0))


def test_every_registered_hyperprior_enters_the_log_density():
    kernel = _rbf(5.0)
    gamma = gpytorch.priors.GammaPrior(3.0, 0.5)
    normal = gpytorch.priors.NormalPrior(4.0, 2.0)
    kernel.register_prior("ls_gamma", gamma, "lengthscale")
    kernel.register_prior("ls_normal", normal, "lengthscale")
    prior = FourierGPPrior(kernel=kernel)
    ell = kernel.lengthscale.detach()
    want = gamma.log_prob(ell).sum() + normal.log_prob(ell).sum()
    torch.testing.assert_close(prior.hyperprior_log_prob().detach(), want)
    assert FourierGPPrior(kernel=_rbf(5.0)).hyperprior_log_prob() is None


def test_float64_epoch_stamps_get_exactly_two_roundings_of_allowance():
    """Microsecond Unix stamps (~1.7e15, 1 ms steps): tolerance 1e-3 * 1000 + 2 eps max|t|.

    That is 1 + 0.75 us: a 1 us glitch is accepted, a 2 us glitch is not.
    """
    prior = FourierGPPrior(kernel=_rbf(5000.0))
    start = 1.7e15
    stamps = start + 1000.0 * torch.arange(8, dtype=torch.float64)[None]
    tol = 1e-3 * 1000.0 + 2 * torch.finfo(torch.float64).eps * float(stamps.max())
    assert 1.0 < tol < 2.0
    glitch = stamps.clone()
    glitch[0, 4:] += 1.0
    assert _dt(prior, 8, glitch) == 1000.0
    glitch[0, 4:] += 1.0
    with pytest.raises(ValueError, match="regularly spaced"):
        _dt(prior, 8, glitch)

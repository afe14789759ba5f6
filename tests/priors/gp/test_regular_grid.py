"""Windows of one long recording are a regular grid for `FourierGPPrior` (issue 15, item 7)."""

import numpy as np
import pytest
import torch
from gpytorch.kernels import RBFKernel

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.priors.base import PriorContext
from pyrodyn.priors.gp import FourierGPPrior

T, DT, WINDOW = 20000, 0.05, 200


def _recording():
    x = np.random.default_rng(0).normal(size=(T, 2))
    return MultimodalDataset({"x": x}, time=DT * np.arange(T), dt=DT)


def test_late_windows_of_a_long_recording_pass_the_grid_check():
    ds = _recording()
    starts = torch.tensor([19000, 15000, T - WINDOW, 0])  # the first row sets the step
    b = ds.batch(torch.zeros(4, dtype=torch.long), start=starts, window=WINDOW)
    assert b.times.dtype == torch.float32
    prior = FourierGPPrior(kernel=RBFKernel())
    assert prior.resolve_dt(PriorContext.of_batch(b)) == pytest.approx(DT, rel=1e-5)
    prior.sample(PriorContext.of_batch(b))  # the whole prior runs on these windows
    # regular within the old tolerance (steps agree to 1e-3 relative)
    steps = torch.diff(b.times.double(), dim=1)
    assert float((steps - DT).abs().max()) < 1e-3 * DT
    # reference: the float64 stamps the recording was given, cut by hand
    absolute = DT * (starts[:, None].double() + torch.arange(WINDOW, dtype=torch.float64))
    torch.testing.assert_close(b.time_origin, absolute[:, 0], rtol=0, atol=1e-12)
    torch.testing.assert_close(b.times.double(), absolute - absolute[:, :1], rtol=0, atol=1e-5)


def test_sampled_and_all_windows_are_window_relative():
    ds = _recording()
    b = ds.sample_batch(6, window=WINDOW, generator=torch.Generator().manual_seed(0))
    assert bool((b.times[:, 0] == 0).all())
    starts = torch.round(b.time_origin / DT).long()
    for i in range(6):
        assert torch.equal(b.obs["x"][i], ds.data["x"][0, starts[i] : starts[i] + WINDOW])
    w = ds.windows(WINDOW, stride=5000)
    torch.testing.assert_close(w.time_origin, DT * torch.arange(0.0, T - WINDOW + 1, 5000).double())


def test_float32_stamps_of_a_regular_grid_are_accepted_irregular_ones_refused():
    prior = FourierGPPrior(kernel=RBFKernel())
    # absolute float32 stamps near t = 1000: each step is off by up to one ulp(1000) = 6.1e-5
    times = (1000.0 + DT * torch.arange(WINDOW, dtype=torch.float64)).float()[None]
    ctx = PriorContext(num_sequences=1, num_steps=WINDOW, times=times)
    assert prior.resolve_dt(ctx) == pytest.approx(DT, rel=3e-3)
    # a step 1 % too long is beyond the rounding of float32 stamps: refused
    irregular = times.double().clone()
    irregular[0, 100:] += 0.01 * DT
    ctx = PriorContext(num_sequences=1, num_steps=WINDOW, times=irregular.float())
    with pytest.raises(ValueError, match="regularly spaced"):
        prior.resolve_dt(ctx)

import math

import pytest
import torch

from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.dynamics.query import QueryDynamics, SinusoidalTimeEncoding


def test_encoding_periods_and_values(device):
    enc = SinusoidalTimeEncoding(max_period=8.0, num_frequencies=4, octaves=3.0).to(device)
    periods = 2 * math.pi / enc.omega
    torch.testing.assert_close(periods.cpu(), torch.tensor([8.0, 4.0, 2.0, 1.0]))
    dt = torch.tensor([0.0, 0.5, 3.0], device=device)
    phi = enc(dt)
    assert phi.shape == (3, 8)
    arg = dt[:, None] * (2 * math.pi / torch.tensor([8.0, 4.0, 2.0, 1.0], device=device))
    torch.testing.assert_close(phi, torch.cat([arg.sin(), arg.cos()], -1))


def test_encoding_wraps_at_its_largest_period_and_the_guard_refuses_it():
    enc = SinusoidalTimeEncoding(max_period=8.0, num_frequencies=16, octaves=8.0)
    # the aliasing the guard protects against: the slowest pair, the only one that resolves
    # times on the scale of a window, takes the same value at dt and dt + P_max
    arg = torch.tensor([1.3, 1.3 + 8.0])[:, None] * enc.omega
    raw = torch.stack([arg.sin(), arg.cos()], -1)
    torch.testing.assert_close(raw[0, 0], raw[1, 0], atol=1e-5, rtol=0)
    # with octaves == num_frequencies - 1 every period divides P_max: exactly periodic
    exact = SinusoidalTimeEncoding(max_period=8.0, num_frequencies=4, octaves=3.0)
    arg = torch.tensor([1.3, 1.3 + 8.0])[:, None] * exact.omega
    torch.testing.assert_close(arg.sin()[0], arg.sin()[1], atol=1e-5, rtol=0)
    enc(torch.tensor([0.0, 7.99]))  # inside [0, P_max): fine
    with pytest.raises(ValueError, match=r"largest period 8.*wraps around"):
        enc(torch.tensor([1.0, 8.0]))
    with pytest.raises(ValueError, match="before the window start"):
        enc(torch.tensor([-0.5, 1.0]))
    with pytest.raises(ValueError, match="finite"):
        enc(torch.tensor([float("nan")]))


def test_encoding_bad_arguments():
    with pytest.raises(ValueError, match="max_period"):
        SinusoidalTimeEncoding(max_period=0.0)
    with pytest.raises(ValueError, match="num_frequencies"):
        SinusoidalTimeEncoding(max_period=1.0, num_frequencies=0)


def test_path_shapes_shared_and_per_row_times(device):
    f = QueryDynamics(code_dim=3, latent_dim=5, max_period=10.0, hidden=(16,), dropout=0.0)
    f = f.to(device)
    assert isinstance(f, DynamicsModel)
    psi = torch.randn(4, 3, device=device)
    out = f.path(psi, torch.linspace(0, 5, 7, device=device))
    assert out.shape == (4, 7, 5)
    per_row = torch.rand(4, 6, device=device).cumsum(-1)
    out2 = f.path(psi, per_row)
    assert out2.shape == (4, 6, 5)
    # row i at its own times equals a shared-time query of that row alone
    torch.testing.assert_close(out2[2], f.path(psi[2], per_row[2]))
    # sample dims to the left broadcast
    assert f.path(psi.expand(2, 4, 3), per_row).shape == (2, 4, 6, 5)
    # absolute times with an origin
    origin = torch.full((4,), 3.0, device=device)
    torch.testing.assert_close(f.path(psi, per_row + 3.0, origin=origin), out2)
    assert f.path(psi, 3).shape == (4, 3, 5)


def test_path_is_parallel_and_order_free():
    f = QueryDynamics(2, 2, max_period=4.0, hidden=(8,), dropout=0.0)
    psi = torch.randn(3, 2)
    t = torch.tensor([0.5, 1.7, 3.1])
    full = f.path(psi, t)
    torch.testing.assert_close(full[:, 1:2], f.path(psi, t[1:2]))


def test_path_errors():
    f = QueryDynamics(3, 3, max_period=2.0, hidden=(8,))
    psi = torch.randn(2, 3)
    with pytest.raises(ValueError, match="wraps around"):
        f.path(psi, torch.tensor([0.0, 2.5]))
    with pytest.raises(ValueError, match="codes with last dim 3"):
        f.path(torch.randn(2, 4), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="autonomous"):
        f.path(psi, torch.tensor([0.0]), inputs=torch.zeros(2, 1, 1))
    with pytest.raises(ValueError, match="do not broadcast"):
        f.path(psi, torch.rand(5, 3))
    with pytest.raises(TypeError, match="no step map"):
        f.step(psi)
    with pytest.raises(ValueError, match="dropout"):
        QueryDynamics(3, 3, max_period=2.0, dropout=1.0)


def test_dropout_only_in_training_mode():
    f = QueryDynamics(3, 3, max_period=2.0, hidden=(32,), dropout=0.5)
    psi, t = torch.randn(2, 3), torch.tensor([0.1, 0.2])
    f.eval()
    torch.testing.assert_close(f.path(psi, t), f.path(psi, t))
    f.train()
    assert not torch.equal(f.path(psi, t), f.path(psi, t))


def test_gradients_reach_code_and_weights():
    f = QueryDynamics(3, 3, max_period=2.0, hidden=(8,), dropout=0.0)
    psi = torch.randn(2, 3, requires_grad=True)
    f.path(psi, torch.tensor([0.0, 1.0])).square().sum().backward()
    assert psi.grad is not None and torch.isfinite(psi.grad).all()
    assert all(p.grad is not None for p in f.parameters())


def test_instance_time_scale_warps_the_clock_and_keeps_the_guard():
    torch.manual_seed(0)
    f = QueryDynamics(3, 4, max_period=6.0, hidden=(8,), dropout=0.0, time_scale=2.0)
    assert f.max_period == 6.0 and f.encoding.max_period == 12.0
    code = torch.randn(5, 3)
    torch.testing.assert_close(f.rate(code), torch.ones(5, 1))  # starts on the common clock
    torch.nn.init.normal_(f.log_rate.weight, std=0.5)
    s = f.rate(code).detach()
    assert bool(((s > 0.5) & (s < 2.0)).all()) and float(s.std()) > 0
    # linear read-out: log s = log(r) * tanh(w . psi + b)
    torch.testing.assert_close(s.log(), math.log(2.0) * torch.tanh(f.log_rate(code)))
    t = torch.tensor([0.0, 1.0, 5.9])
    z = f.path(code, t)
    phi = f.encoding(t * s)  # (5, 3, 2F): each instance on its own clock
    want = f.net(torch.cat([code[:, None].expand(5, 3, 3), phi], -1))
    torch.testing.assert_close(z, want)
    z.sum().backward()
    assert f.log_rate.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="largest period 6"):
        f.path(code, torch.tensor([6.0]))
    with pytest.raises(ValueError, match="time_scale must be None or a ratio r > 1"):
        QueryDynamics(3, 4, max_period=6.0, time_scale=1.0)


def test_clock_reads_only_the_rate_features():
    torch.manual_seed(0)
    f = QueryDynamics(
        5, 4, max_period=6.0, hidden=(8,), dropout=0.0, time_scale=2.0, rate_features=2
    )
    torch.nn.init.normal_(f.log_rate.weight, std=0.5)
    code = torch.randn(3, 5)
    other = code.clone()
    other[:, 2:] = torch.randn(3, 3)  # only the state part changes: the clock must not
    torch.testing.assert_close(f.rate(code), f.rate(other))
    assert f.log_rate.in_features == 2
    with pytest.raises(ValueError, match="rate_features needs time_scale"):
        QueryDynamics(5, 4, max_period=6.0, rate_features=2)
    with pytest.raises(ValueError, match=r"rate_features must lie in \[1, code_dim = 5\], got 6"):
        QueryDynamics(5, 4, max_period=6.0, time_scale=2.0, rate_features=6)


def test_rate_is_one_per_code_without_time_scale():
    f = QueryDynamics(3, 2, max_period=2.0, hidden=(4,), dropout=0.0)
    code = torch.randn(2, 5, 3, dtype=torch.float64)
    rate = f.rate(code)
    assert rate.dtype == torch.float64
    torch.testing.assert_close(rate, torch.ones(2, 5, 1, dtype=torch.float64))


def test_encoding_defaults_and_state():
    enc = SinusoidalTimeEncoding(max_period=8.0)  # LaDID: 16 frequencies over 8 octaves
    assert enc.output_dim == 32
    periods = 2 * math.pi / enc.omega
    torch.testing.assert_close(periods, 8.0 * 2.0 ** -torch.linspace(0, 8, 16))
    assert "omega" not in enc.state_dict()  # derived from the arguments, not a checkpoint entry
    for bad in (float("inf"), float("nan"), -1.0):
        with pytest.raises(ValueError, match="max_period must be a positive finite number"):
            SinusoidalTimeEncoding(max_period=bad)


def test_encoding_check_boundaries():
    enc = SinusoidalTimeEncoding(max_period=8.0, num_frequencies=2, octaves=1.0)
    # a relative 1e-6 of rounding before the start is tolerated, the period itself is not
    enc.check(torch.tensor([-1e-6 * 8.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="wraps around"):
        enc.check(torch.tensor([8.0 * (1 - 1e-6)], dtype=torch.float64))
    for bad in ([0.0, float("inf")], [float("-inf"), 1.0]):
        with pytest.raises(ValueError, match="finite"):
            enc.check(torch.tensor(bad))


def test_encoding_computes_in_its_own_dtype():
    enc = SinusoidalTimeEncoding(max_period=8.0, num_frequencies=3, octaves=2.0)
    dt = torch.tensor([0.123456789012345, 3.3333333333333, 7.1], dtype=torch.float64)
    out = enc(dt)
    assert out.dtype == torch.float64  # returned in the offsets' dtype
    # the float32 module sees float32 offsets whatever the input precision
    assert torch.equal(out, enc(dt.float()).double())


def test_query_defaults_and_architecture():
    f = QueryDynamics(1, 2, max_period=4.0)  # the smallest code
    assert f.encoding.num_frequencies == 16 and f.encoding.max_period == 4.0
    linear = [m for m in f.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(33, 256), (256, 256), (256, 2)]
    with pytest.raises(ValueError, match="code_dim must be >= 1, got 0"):
        QueryDynamics(0, 2, max_period=4.0)
    g = QueryDynamics(2, 2, max_period=4.0, hidden=(6, 5), dropout=0.0)
    assert not any(isinstance(m, torch.nn.Dropout) for m in g.net)
    psi = torch.randn(3, 2)
    assert g.path(psi, torch.tensor([0.5, 1.0])).shape == (3, 2, 2)
    for r in (1, 5):  # both ends of [1, code_dim]
        q = QueryDynamics(5, 2, max_period=4.0, hidden=(4,), time_scale=2.0, rate_features=r)
        assert q.log_rate.in_features == r
    with pytest.raises(ValueError, match="rate_features must lie in"):
        QueryDynamics(5, 2, max_period=4.0, time_scale=2.0, rate_features=0)


def test_path_is_the_network_on_code_and_encoded_offset():
    f = QueryDynamics(2, 3, max_period=5.0, num_frequencies=3, octaves=2.0, hidden=(7,))
    f.eval()
    psi = torch.randn(4, 2)
    t = torch.tensor([0.0, 1.5, 4.2])
    omega = 2 * math.pi / (5.0 * torch.tensor([1.0, 0.5, 0.25]))
    arg = t[:, None] * omega
    phi = torch.cat([arg.sin(), arg.cos()], -1)  # (3, 6)
    want = f.net(torch.cat([psi[:, None].expand(4, 3, 2), phi.expand(4, 3, 6)], -1))
    torch.testing.assert_close(f.path(psi, t), want)
    # integer offsets, and float64 absolute times with an origin, give the same states
    torch.testing.assert_close(
        f.path(psi, torch.tensor([0, 1, 4])), f.path(psi, torch.tensor([0.0, 1.0, 4.0]))
    )
    origin = torch.full((4,), 100.0, dtype=torch.float64)
    shifted = f.path(psi, t.double() + 100.0, origin=origin)
    assert shifted.dtype == torch.float32
    torch.testing.assert_close(shifted, want)

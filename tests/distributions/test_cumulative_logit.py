import numpy as np
import pyro.distributions as dist
import pytest
import torch
from scipy import special

from pyrodyn.distributions import CumulativeLogit, log1mexp
from pyrodyn.distributions.cumulative_logit import log1mexp_exp

THRESHOLDS = torch.tensor([-1.5, -0.2, 0.4, 2.0], dtype=torch.float64)  # C = 5


def naive_log_prob(eta, thresholds, k):
    """float64 sigmoid differences: accurate for moderate arguments, underflows in the tails."""
    cdf = special.expit(np.asarray(thresholds, dtype=np.float64) - np.asarray(eta)[..., None])
    cdf = np.concatenate([np.zeros_like(cdf[..., :1]), cdf, np.ones_like(cdf[..., :1])], -1)
    k = np.asarray(k, dtype=np.int64)
    up = np.take_along_axis(cdf, k[..., None], -1)[..., 0]
    lo = np.take_along_axis(cdf, k[..., None] - 1, -1)[..., 0]
    with np.errstate(divide="ignore"):
        return np.log(up - lo)


def test_matches_sigmoid_differences_where_accurate():
    eta = torch.linspace(-4.0, 4.0, 9, dtype=torch.float64)[:, None].expand(9, 5)
    codes = torch.arange(1.0, 6.0, dtype=torch.float64).expand(9, 5)
    d = CumulativeLogit(eta, THRESHOLDS.double())
    got = d.log_prob(codes)
    ref = naive_log_prob(eta.numpy(), THRESHOLDS.numpy(), codes.numpy())
    torch.testing.assert_close(got, torch.as_tensor(ref), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(d.probs.sum(-1), torch.ones(9, 5, dtype=torch.float64))


def test_float32_matches_float64():
    eta = torch.randn(50) * 3
    codes = torch.randint(1, 6, (50,)).float()
    lp32 = CumulativeLogit(eta, THRESHOLDS.float()).log_prob(codes)
    lp64 = CumulativeLogit(eta.double(), THRESHOLDS.double()).log_prob(codes.double())
    torch.testing.assert_close(lp32.double(), lp64, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("code", [1.0, 3.0, 5.0])
@pytest.mark.parametrize("eta_value", [-800.0, 800.0])
def test_extreme_tails_stay_finite_with_gradient(code, eta_value):
    eta = torch.tensor([eta_value], requires_grad=True)
    thresholds = THRESHOLDS.float().requires_grad_(True)
    lp = CumulativeLogit(eta, thresholds).log_prob(torch.tensor([code]))
    naive = naive_log_prob(eta.detach().numpy(), THRESHOLDS.numpy(), [code])
    if (code == 1.0 and eta_value > 0) or (code == 5.0 and eta_value < 0) or code == 3.0:
        assert not np.isfinite(naive).all()  # the direct computation underflows here
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert torch.isfinite(eta.grad).all()
    assert torch.isfinite(thresholds.grad).all()
    if not np.isfinite(naive).all():
        # an improbable category pulls eta towards itself with slope ~1 (never a zero gradient)
        assert abs(float(eta.grad)) > 0.5
        # log P(o = 1) = logsigmoid(theta_1 - eta) ~ theta_1 - eta for eta -> +inf
        if code == 1.0:
            torch.testing.assert_close(
                lp.detach(), torch.tensor([-1.5 - eta_value]), rtol=1e-6, atol=0
            )


def test_interior_tail_asymptotics():
    # eta >> thresholds: P(o = k) ~ e^{theta_k - eta} - e^{theta_{k-1} - eta}
    eta = torch.tensor([60.0], dtype=torch.float64)
    lp = CumulativeLogit(eta, THRESHOLDS.double()).log_prob(torch.tensor([3.0]))
    ref = -60.0 + np.log(np.exp(0.4) - np.exp(-0.2))
    torch.testing.assert_close(lp, torch.tensor([ref], dtype=torch.float64), rtol=1e-12, atol=1e-9)


def test_log_gaps_used_exactly():
    th = torch.tensor([0.0, 0.0, 1.0])  # theta_2 - theta_1 = e^-40 is below float resolution
    log_gaps = torch.tensor([-40.0, 0.0])
    d = CumulativeLogit(torch.tensor(0.0), th, log_gaps)
    lp = d.log_prob(torch.tensor(2.0))
    torch.testing.assert_close(lp, torch.tensor(np.log(0.25) - 40.0, dtype=torch.float32))
    # from thresholds alone, the tie gives that category probability 0 ...
    assert CumulativeLogit(torch.tensor(0.0), th).log_prob(torch.tensor(2.0)) == -float("inf")
    # ... and other categories keep finite gradients
    th = th.clone().requires_grad_(True)
    CumulativeLogit(torch.zeros(3), th).log_prob(torch.tensor([1.0, 3.0, 4.0])).sum().backward()
    assert torch.isfinite(th.grad).all()
    with pytest.raises(ValueError, match="log_gaps"):
        CumulativeLogit(torch.tensor(0.0), th, torch.zeros(3))


def test_mode_matches_the_log_probability_argmax_in_float32_and_in_the_tails():
    # the mode is taken from CDF differences; it must agree with the log-space probabilities
    # everywhere but at near-ties, including where float32 sigmoids saturate
    gen = torch.Generator().manual_seed(0)
    eta = torch.cat(
        [torch.randn(4000, generator=gen) * 3, torch.tensor([-80.0, -30.0, 30.0, 80.0])]
    )
    d = CumulativeLogit(eta, THRESHOLDS.float())
    lp = d.log_probs()
    top2 = lp.topk(2, -1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-4
    assert clear.sum() > 3900
    expected = (lp.argmax(-1) + 1).float()
    assert torch.equal(d.mode[clear], expected[clear])
    assert d.mode[-4:].tolist() == [1.0, 1.0, 5.0, 5.0]
    assert d.mode.dtype == torch.float32


def test_mean_variance_mode_against_enumeration():
    eta = torch.randn(4, 3, dtype=torch.float64) * 2
    d = CumulativeLogit(eta, THRESHOLDS.double())
    support = d.enumerate_support()
    assert support.shape == (5, 4, 3)
    p = d.log_prob(support).exp()
    torch.testing.assert_close(d.mean, (p * support).sum(0))
    torch.testing.assert_close(d.variance, (p * support**2).sum(0) - d.mean**2)
    torch.testing.assert_close(d.mode, support.gather(0, p.argmax(0, keepdim=True))[0])
    assert d.enumerate_support(expand=False).shape == (5, 1, 1)


def test_sample_frequencies():
    torch.manual_seed(0)
    d = CumulativeLogit(torch.tensor([0.3]), THRESHOLDS.float())
    x = d.sample((20000,))
    assert x.shape == (20000, 1)
    assert x.dtype == torch.float32
    assert bool(((x >= 1) & (x <= 5) & (x == x.round())).all())
    freq = torch.stack([(x == k).float().mean() for k in range(1, 6)])
    torch.testing.assert_close(freq, d.probs[0], atol=0.015, rtol=0)


def test_expand_mask_and_to_event():
    d = CumulativeLogit(torch.zeros(3), THRESHOLDS.float())
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3)
    assert e.log_prob(torch.ones(2, 3)).shape == (2, 3)
    m = d.mask(torch.tensor([True, False, True])).to_event(1)
    lp = m.log_prob(torch.tensor([1.0, 2.0, 5.0]))
    torch.testing.assert_close(lp, d.log_prob(torch.tensor([1.0, 5.0, 5.0]))[[0, 2]].sum())


def test_validation():
    with pytest.raises(ValueError, match="thresholds"):
        CumulativeLogit(torch.zeros(2), torch.tensor([1.0, 0.0]), validate_args=True)
    d = CumulativeLogit(torch.zeros(2), THRESHOLDS.float(), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="C - 1"):
        CumulativeLogit(torch.zeros(2), torch.zeros(2, 0))
    assert isinstance(d, dist.TorchDistribution)


D = torch.logspace(-30, 2.5, 100, dtype=torch.float64)
R = torch.linspace(-300.0, 5.0, 200, dtype=torch.float64)


def test_log1mexp_accuracy():
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(300):  # log(1 - e^-d) for d ~ 300 needs ~130 significant digits
        ref = [mpmath.log(-mpmath.expm1(-mpmath.mpf(x))) for x in D.tolist()]
        ref_r = [mpmath.log(-mpmath.expm1(-mpmath.exp(mpmath.mpf(x)))) for x in R.tolist()]
        ref = torch.tensor([float(v) for v in ref], dtype=torch.float64)
        ref_r = torch.tensor([float(v) for v in ref_r], dtype=torch.float64)
    torch.testing.assert_close(log1mexp(D), ref, rtol=1e-14, atol=0)
    torch.testing.assert_close(log1mexp(D.float()), ref.float(), rtol=2e-6, atol=1e-30)
    torch.testing.assert_close(log1mexp_exp(R), ref_r, rtol=1e-13, atol=1e-15)
    assert torch.isfinite(log1mexp_exp(torch.tensor([-200.0]))).all()


class _Shifted(CumulativeLogit):
    """A subclass with its own constructor, expanded through torch's ``_instance`` protocol."""

    def __init__(self, eta, thresholds, shift=0.0, validate_args=None):
        self.shift = shift
        super().__init__(eta + shift, thresholds, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(_Shifted, _instance)
        new.shift = self.shift
        return super().expand(batch_shape, _instance=new)


def test_expand_follows_the_torch_protocol():
    """Subclasses can reuse ``expand``; the validation flag is kept, parameters not re-checked."""
    e = _Shifted(torch.tensor([0.0, 1.0], dtype=torch.float64), THRESHOLDS, shift=0.5)
    e = e.expand((3, 2))
    assert type(e) is _Shifted and e.shift == 0.5 and e.batch_shape == (3, 2)
    codes = torch.tensor([1.0, 4.0], dtype=torch.float64).expand(3, 2)
    eta = np.broadcast_to([0.5, 1.5], (3, 2))
    ref = naive_log_prob(eta, THRESHOLDS.numpy(), codes.numpy())
    torch.testing.assert_close(e.log_prob(codes), torch.as_tensor(ref), rtol=1e-12, atol=0)
    # a validated distribution stays validated once expanded (as a Pyro plate expands it)
    checked = CumulativeLogit(torch.zeros(2), THRESHOLDS, validate_args=True).expand((3, 2))
    with pytest.raises(ValueError, match="support"):
        checked.log_prob(torch.full((3, 2), 6.0))
    # an unvalidated one is expanded as is: its parameters are not checked again on expand
    loose = CumulativeLogit(torch.zeros(2), THRESHOLDS.flip(-1), validate_args=False)
    assert loose.expand((3, 2)).log_prob(torch.ones(3, 2)).shape == (3, 2)


def test_threshold_constraint_checks_each_row():
    """Finite and non-decreasing (ties allowed), judged per row of a batch of thresholds."""
    check = CumulativeLogit.arg_constraints["thresholds"].check
    rows = torch.tensor(
        [[0.0, 1.0, 1.0, 2.0], [0.0, 2.0, 1.0, 3.0], [0.0, 1.0, float("inf"), 5.0], [-1.0] * 4]
    )
    assert check(rows).tolist() == [True, False, False, True]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_sample_is_the_inverse_cdf_of_uniforms_in_the_dtype_of_eta(dtype):
    """Under a fixed seed a draw is the smallest ``k`` with ``u <= P(o <= k)``, ``u`` uniform in
    the dtype of ``eta``; half precision makes exact ties ``u = P(o <= k)`` frequent."""
    if dtype == torch.float64:
        eta = torch.randn(2000, dtype=dtype, generator=torch.Generator().manual_seed(1))
        thresholds = THRESHOLDS
        cdf = special.expit(thresholds.numpy() - eta.numpy()[:, None])
    else:
        eta = torch.zeros(20000, dtype=dtype)
        thresholds = torch.tensor([0.0, 20.0], dtype=dtype)
        cdf = np.array([0.5, 1.0])  # sigmoid(0) and sigmoid(20) are exact in half precision
    torch.manual_seed(7)
    x = CumulativeLogit(eta, thresholds).sample()
    torch.manual_seed(7)
    u = torch.rand(eta.shape, dtype=dtype).double().numpy()
    assert x.dtype == dtype
    np.testing.assert_array_equal(x.double().numpy(), 1 + (u[:, None] > cdf).sum(-1))
    if dtype == torch.float16:
        assert (u == 0.5).any()  # the tie is exercised

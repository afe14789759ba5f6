import numpy as np
import pytest
import torch
from scipy import stats

from pyrodyn.distributions import PoissonLogRate


def test_matches_scipy():
    log_rate = torch.randn(5, 3, dtype=torch.float64)
    k = torch.poisson(log_rate.exp())
    got = PoissonLogRate(log_rate).log_prob(k)
    ref = stats.poisson.logpmf(k.numpy(), np.exp(log_rate.numpy()))
    torch.testing.assert_close(got, torch.as_tensor(ref), rtol=1e-12, atol=1e-12)


def test_underflowing_rate_stays_finite():
    log_rate = torch.tensor([-150.0], requires_grad=True)
    lp = PoissonLogRate(log_rate).log_prob(torch.tensor([2.0]))
    torch.testing.assert_close(lp.detach(), torch.tensor([-300.0 - float(np.log(2.0))]))
    lp.sum().backward()
    torch.testing.assert_close(log_rate.grad, torch.tensor([2.0]))
    # the rate parameterisation gives -inf here
    assert torch.distributions.Poisson(log_rate.detach().exp()).log_prob(torch.tensor([2.0])) == (
        -float("inf")
    )


def test_expand_and_moments():
    d = PoissonLogRate(torch.tensor([0.0, float(np.log(3.0))]))
    e = d.expand((4, 2))
    assert e.batch_shape == (4, 2)
    torch.testing.assert_close(e.mean[0], torch.tensor([1.0, 3.0]))
    assert e.log_prob(torch.ones(4, 2)).shape == (4, 2)
    assert e.sample().shape == (4, 2)


def test_support_validation():
    d = PoissonLogRate(torch.zeros(2), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.tensor([0.5, 1.0]))


class _Offset(PoissonLogRate):
    """A subclass with its own constructor, expanded through torch's ``_instance`` protocol."""

    def __init__(self, log_rate, offset=0.0, validate_args=None):
        self.offset = offset
        super().__init__(log_rate + offset, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(_Offset, _instance)
        new.offset = self.offset
        return super().expand(batch_shape, _instance=new)


def test_expand_follows_the_torch_protocol():
    """Subclasses can reuse ``expand``; the validation flag is kept, parameters not re-checked."""
    log_rate = torch.tensor([0.0, float(np.log(3.0))], dtype=torch.float64)
    e = _Offset(log_rate, offset=float(np.log(2.0))).expand((4, 2))
    assert type(e) is _Offset and e.offset == float(np.log(2.0)) and e.batch_shape == (4, 2)
    k = torch.tensor([[0.0, 1.0], [2.0, 3.0], [5.0, 6.0], [9.0, 0.0]], dtype=torch.float64)
    ref = stats.poisson.logpmf(k.numpy(), np.array([2.0, 6.0]))
    torch.testing.assert_close(e.log_prob(k), torch.as_tensor(ref), rtol=1e-12, atol=0)
    torch.testing.assert_close(e.mean, torch.tensor([2.0, 6.0], dtype=torch.float64).expand(4, 2))
    checked = PoissonLogRate(torch.zeros(2), validate_args=True).expand((4, 2))
    with pytest.raises(ValueError, match="support"):
        checked.log_prob(torch.full((4, 2), 0.5))
    # an unvalidated one is built and expanded as is: its parameters are not checked
    loose = PoissonLogRate(torch.tensor([float("nan"), 0.0]), validate_args=False)
    assert loose.expand((4, 2)).batch_shape == (4, 2)
    with pytest.raises(ValueError, match="log_rate"):
        PoissonLogRate(torch.tensor([float("nan"), 0.0]), validate_args=True)

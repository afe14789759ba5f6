import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrodyn.distributions.weighted import Weighted
from pyrodyn.objectives.elbo import MeanFieldELBO


def _normal(shape=(4, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    return dist.Normal(torch.randn(shape, generator=g), 0.5 + torch.rand(shape, generator=g))


def test_log_prob_is_weighted_and_zero_weights_drop_the_element():
    base = _normal().to_event(1)
    w = torch.tensor([0.5, 2.0, 0.0, 1.0])
    z = torch.randn(4, 3)
    z[2] = float("inf")  # a dropped element may hold anything
    lp = Weighted(base, w).log_prob(z)
    want = w * base.log_prob(torch.where(torch.isinf(z), 0.0, z))
    torch.testing.assert_close(lp[[0, 1, 3]], want[[0, 1, 3]])
    assert float(lp[2]) == 0.0


def test_kl_is_the_weighted_kl_and_needs_equal_weights():
    q, p = _normal().to_event(1), _normal(seed=1).to_event(1)
    w = torch.tensor([0.5, 2.0, 0.0, 1.0])
    kl = torch.distributions.kl_divergence(Weighted(q, w), Weighted(p, w.clone()))
    torch.testing.assert_close(kl, w * torch.distributions.kl_divergence(q, p))
    with pytest.raises(NotImplementedError):
        torch.distributions.kl_divergence(Weighted(q, w), Weighted(p, w + 1.0))


def test_expand_and_sample_over_leading_dims():
    d = Weighted(_normal().to_event(1), torch.tensor([1.0, 2.0, 3.0, 4.0])).to_event(1)
    e = d.expand((5,))
    assert e.batch_shape == (5,) and e.event_shape == (4, 3)
    z = e.rsample()
    assert z.shape == (5, 4, 3)
    torch.testing.assert_close(e.log_prob(z), d.log_prob(z))


def test_expand_to_its_own_shape_returns_itself():
    d = Weighted(_normal().to_event(1), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert d.expand((4,)) is d and d.expand(torch.Size([4])) is d
    # a plate of the site's own size (what every sample site inside a plate goes through)
    with poutine.trace() as tr, pyro.plate("rows", 4, dim=-1):
        pyro.sample("z", d)
    assert tr.trace.nodes["z"]["fn"] is d
    e = d.expand((2, 4))
    assert e is not d and e.batch_shape == (2, 4)


def _pair(weighted: bool, w: torch.Tensor):
    q = _normal(seed=3)

    def model():
        with pyro.plate("rows", 4, dim=-1):
            p = dist.Normal(torch.zeros(4, 3), 1.0).to_event(1)
            if weighted:
                pyro.sample("z", Weighted(p, w))
            else:
                with poutine.scale(scale=w):
                    pyro.sample("z", p)

    def guide():
        with pyro.plate("rows", 4, dim=-1):
            g = q.to_event(1)
            if weighted:
                pyro.sample("z", Weighted(g, w))
            else:
                with poutine.scale(scale=w):
                    pyro.sample("z", g)

    return model, guide


@pytest.mark.parametrize("elbo", [MeanFieldELBO, Trace_ELBO])
def test_a_per_row_weight_is_a_site_scale(elbo):
    w = torch.tensor([0.5, 2.0, 1.5, 1.0])
    losses = []
    for weighted in (True, False):
        pyro.set_rng_seed(0)
        losses.append(elbo().differentiable_loss(*_pair(weighted, w)))
    torch.testing.assert_close(losses[0], losses[1])


def test_sample_is_a_draw_of_the_base():
    """The weight does not change the sampler: same seed, same draws as the base."""
    base = _normal().to_event(1)
    w = Weighted(base, torch.tensor([0.5, 2.0, 0.0, 1.0]))
    torch.manual_seed(3)
    x = w.sample((2,))
    torch.manual_seed(3)
    torch.testing.assert_close(x, base.sample((2,)))
    assert x.shape == (2, 4, 3)


def test_batch_broadcasts_between_base_and_weight():
    base = _normal((4, 3)).to_event(1)  # batch (4,)
    z = torch.randn(4, 3)
    # a scalar weight takes the base's batch
    w = Weighted(base, torch.tensor(0.5))
    assert w.batch_shape == (4,) and w.sample().shape == (4, 3)
    torch.testing.assert_close(w.log_prob(z), 0.5 * base.log_prob(z))
    # a weight with more dims expands the base
    weight = torch.tensor([[0.5], [2.0]]).expand(2, 4)
    w = Weighted(base, weight)
    assert w.batch_shape == (2, 4) and w.sample().shape == (2, 4, 3)
    torch.testing.assert_close(w.log_prob(z), weight * base.log_prob(z))


def test_validation_follows_validate_args_and_dtype_follows_the_base():
    base = _normal().to_event(1)
    with pytest.raises(ValueError, match="weight"):
        Weighted(base, -torch.ones(4), validate_args=True)
    Weighted(base, -torch.ones(4), validate_args=False)  # not checked when asked not to
    lp = Weighted(base, torch.ones(4, dtype=torch.float64)).log_prob(torch.zeros(4, 3))
    assert lp.dtype == torch.float32

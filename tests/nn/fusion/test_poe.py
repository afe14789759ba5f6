import pyro.distributions as dist
import pytest
import torch

from pyrodyn.nn.fusion import ProductOfExperts
from pyrodyn.testing.fusion import FusionConformance


class TestProductOfExpertsConformance(FusionConformance):
    def make_fusion(self):
        return ProductOfExperts()


class TestProductOfExpertsPriorExpertConformance(FusionConformance):
    def make_fusion(self):
        return ProductOfExperts(prior_expert=True)


@pytest.mark.parametrize("num", [2, 3])
def test_identical_experts_divide_the_variance(num):
    q = dist.Normal(torch.randn(5, 4), torch.rand(5, 4) + 0.2)
    post = {f"m{i}": q for i in range(num)}
    pres = {m: torch.ones(5, dtype=torch.bool) for m in post}
    fused = ProductOfExperts()(post, pres)
    torch.testing.assert_close(fused.loc, q.loc)
    torch.testing.assert_close(fused.scale**2, q.scale**2 / num)


def test_precision_weighting_closed_form():
    a = dist.Normal(torch.tensor([[0.0]]), torch.tensor([[1.0]]))
    b = dist.Normal(torch.tensor([[3.0]]), torch.tensor([[0.5]]))
    pres = {"a": torch.tensor([True]), "b": torch.tensor([True])}
    fused = ProductOfExperts()({"a": a, "b": b}, pres)
    # precisions 1 and 4: mean 12/5, variance 1/5
    torch.testing.assert_close(fused.loc, torch.tensor([[2.4]]))
    torch.testing.assert_close(fused.scale**2, torch.tensor([[0.2]]))
    with_prior = ProductOfExperts(prior_expert=True)({"a": a, "b": b}, pres)
    torch.testing.assert_close(with_prior.scale**2, torch.tensor([[1 / 6]]))


def test_prior_expert_allows_empty_rows():
    q = dist.Normal(torch.randn(2, 3), torch.ones(2, 3))
    fused = ProductOfExperts(prior_expert=True)({"a": q}, {"a": torch.tensor([False, True])})
    torch.testing.assert_close(fused.loc[0], torch.zeros(3))
    torch.testing.assert_close(fused.scale[0], torch.ones(3))


@pytest.mark.parametrize("prior_expert", [False, True])
def test_sequences_with_unequal_latent_sizes_raise(prior_expert):
    # (B, T, D) posteriors with equal B and T: only the latent size differs
    post = {
        "a": dist.Normal(torch.zeros(2, 5, 3), torch.ones(2, 5, 3)),
        "b": dist.Normal(torch.zeros(2, 5, 4), torch.ones(2, 5, 4)),
    }
    pres = {m: torch.ones(2, 5, dtype=torch.bool) for m in post}
    with pytest.raises(ValueError, match=r"equal latent sizes, got \{'a': 3, 'b': 4\}"):
        ProductOfExperts(prior_expert=prior_expert)(post, pres)

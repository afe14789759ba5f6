import pyro.distributions as dist
import pytest
import torch

from pyrodyn.nn.fusion import MixtureOfProductsOfExperts
from pyrodyn.nn.fusion.mopoe import nonempty_subsets
from pyrodyn.testing.fusion import FusionConformance


class TestMixtureOfProductsOfExpertsConformance(FusionConformance):
    def make_fusion(self):
        return MixtureOfProductsOfExperts()


@pytest.mark.parametrize("num", [1, 2, 3, 4])
def test_has_two_to_the_m_minus_one_components(num):
    assert len(nonempty_subsets(num)) == 2**num - 1
    post = {f"m{i}": dist.Normal(torch.randn(2, 3), torch.ones(2, 3)) for i in range(num)}
    pres = {m: torch.ones(2, dtype=torch.bool) for m in post}
    mix = MixtureOfProductsOfExperts().mixture(post, pres)
    assert mix.num_components == 2**num - 1
    assert int((mix.weights[0] > 0).sum()) == 2**num - 1


def test_missing_modality_leaves_subsets_of_available_ones():
    post = {f"m{i}": dist.Normal(torch.randn(2, 3), torch.ones(2, 3)) for i in range(3)}
    pres = {m: torch.ones(2, dtype=torch.bool) for m in post}
    pres["m2"][0] = False
    mix = MixtureOfProductsOfExperts().mixture(post, pres)
    assert int((mix.weights[0] > 0).sum()) == 3  # {m0}, {m1}, {m0, m1}
    assert int((mix.weights[1] > 0).sum()) == 7


def test_components_are_subset_products():
    qa = dist.Normal(torch.zeros(1, 2), torch.ones(1, 2))
    qb = dist.Normal(torch.full((1, 2), 2.0), torch.ones(1, 2))
    pres = {"a": torch.tensor([True]), "b": torch.tensor([True])}
    mix = MixtureOfProductsOfExperts().mixture({"a": qa, "b": qb}, pres)
    # subsets in order {a}, {b}, {a, b}
    torch.testing.assert_close(mix.locs[0, 2], torch.ones(2))
    torch.testing.assert_close(mix.scales[0, 2] ** 2, torch.full((2,), 0.5))
    torch.testing.assert_close(mix.locs[0, 1], qb.loc[0])


def test_prior_expert_joins_every_subset_product():
    # closed form: each component is the precision-weighted product of its experts and N(0, 1)
    la, sa, lb, sb = 1.0, 0.5, -2.0, 2.0
    qa = dist.Normal(torch.full((1, 1), la), torch.full((1, 1), sa))
    qb = dist.Normal(torch.full((1, 1), lb), torch.full((1, 1), sb))
    pres = {"a": torch.tensor([True]), "b": torch.tensor([True])}
    mix = MixtureOfProductsOfExperts(prior_expert=True).mixture({"a": qa, "b": qb}, pres)
    for i, experts in enumerate([[(la, sa)], [(lb, sb)], [(la, sa), (lb, sb)]]):
        prec = 1.0 + sum(1.0 / s**2 for _, s in experts)
        loc = sum(m / s**2 for m, s in experts) / prec
        assert mix.locs[0, i, 0].item() == pytest.approx(loc)
        assert mix.scales[0, i, 0].item() == pytest.approx(prec**-0.5)


def test_double_precision_posteriors_stay_double():
    qa = dist.Normal(torch.zeros(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64))
    qb = dist.Normal(torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64))
    pres = {"a": torch.tensor([True, False]), "b": torch.tensor([True, True])}
    mix = MixtureOfProductsOfExperts().mixture({"a": qa, "b": qb}, pres)
    assert mix.locs.dtype == torch.float64
    # row 1 has only b: a single component, b itself
    torch.testing.assert_close(mix.mean[1], qb.loc[1])
    # row 0: components a (0), b (1) and a*b (0.5), uniform weights
    torch.testing.assert_close(mix.mean[0], torch.full((3,), 0.5, dtype=torch.float64))

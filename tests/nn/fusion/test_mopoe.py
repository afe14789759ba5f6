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

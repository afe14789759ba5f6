import pyro.distributions as dist
import pytest
import torch

from pyrodyn.nn.fusion import Mean
from pyrodyn.nn.fusion.base import stack_experts


def test_stack_experts_shapes():
    post = {m: dist.Normal(torch.zeros(2, 5, 3), torch.ones(2, 5, 3)) for m in "ab"}
    pres = {m: torch.ones(2, 5, dtype=torch.bool) for m in "ab"}
    locs, scales, p = stack_experts(post, pres)
    assert locs.shape == (2, 5, 2, 3) and scales.shape == (2, 5, 2, 3) and p.shape == (2, 5, 2)


def test_sequence_without_any_observed_step_raises():
    post = {m: dist.Normal(torch.zeros(2, 4, 3), torch.ones(2, 4, 3)) for m in "ab"}
    pres = {m: torch.ones(2, 4, dtype=torch.bool) for m in "ab"}
    for m in "ab":
        pres[m][1] = False
    with pytest.raises(ValueError, match=r"every modality is missing in rows \[1\]"):
        Mean()(post, pres)


def test_present_shape_must_match():
    post = {m: dist.Normal(torch.zeros(2, 3), torch.ones(2, 3)) for m in "ab"}
    pres = {"a": torch.ones(2, dtype=torch.bool), "b": torch.ones(3, dtype=torch.bool)}
    with pytest.raises(ValueError, match=r"present\['b'\] has shape \(3,\)"):
        Mean()(post, pres)


def test_empty_posteriors_raise():
    with pytest.raises(ValueError, match="at least one modality"):
        Mean()({}, {})


def _fusions():
    from pyrodyn.nn.fusion import (
        MMVM,
        Independent,
        MixtureOfExperts,
        MixtureOfProductsOfExperts,
        ProductOfExperts,
    )

    return [
        Mean(),
        ProductOfExperts(),
        MixtureOfExperts(),
        MixtureOfProductsOfExperts(),
        Independent(),
        MMVM(),
    ]


@pytest.mark.parametrize("fusion", _fusions(), ids=lambda f: type(f).__name__)
def test_leading_sample_dims_broadcast(fusion):
    # posteriors (S, B, D) with availability (B,): every output is the per-sample computation
    g = torch.Generator().manual_seed(0)
    post = {
        m: dist.Normal(torch.randn(4, 3, 2, generator=g), 0.5 + torch.rand(4, 3, 2, generator=g))
        for m in "abc"
    }
    pres = {m: torch.ones(3, dtype=torch.bool) for m in "abc"}
    pres["c"][0] = False
    fused = fusion(post, pres)
    assert fused.loc.shape == (4, 3, 2)
    guides = fusion.guide_distributions(post, pres)
    priors = fusion.prior_distributions(post, pres)
    z = torch.randn(4, 3, 2)
    for s in range(4):
        one = {m: dist.Normal(q.loc[s], q.scale[s]) for m, q in post.items()}
        torch.testing.assert_close(fused.loc[s], fusion(one, pres).loc)
        g1, p1 = fusion.guide_distributions(one, pres), fusion.prior_distributions(one, pres)
        for k in guides:
            assert guides[k].batch_shape == (4, 3)
            torch.testing.assert_close(guides[k].log_prob(z)[s], g1[k].log_prob(z[s]))
            torch.testing.assert_close(priors[k].log_prob(z)[s], p1[k].log_prob(z[s]))


def test_default_prior_is_standard_normal_and_mmvm_brings_the_mixture():
    from pyrodyn.nn.fusion import MMVM
    from pyrodyn.priors import MMVMMixturePrior, StandardNormalPrior

    assert type(Mean().default_prior(3)) is StandardNormalPrior
    prior = MMVM(alpha=0.25, estimator="lse").default_prior(3)
    assert isinstance(prior, MMVMMixturePrior)
    assert (prior.latent_dim, prior.alpha, prior.estimator) == (3, 0.25, "lse")


def test_shared_site_is_informed_only_by_modalities_with_a_posterior():
    # an availability mask without a posterior (no encoder for it) informs nothing
    post = {m: dist.Normal(torch.zeros(2, 3), torch.ones(2, 3)) for m in "ab"}
    pres = {"a": torch.tensor([False, True]), "b": torch.tensor([False, False])}
    pres["c"] = torch.tensor([True, True])
    site = Mean().site_present(post, pres)
    assert list(site) == ["shared"] and site["shared"].tolist() == [False, True]


def test_posteriors_with_different_sequence_lengths_raise():
    post = {
        "a": dist.Normal(torch.zeros(2, 5, 3), torch.ones(2, 5, 3)),
        "b": dist.Normal(torch.zeros(2, 4, 3), torch.ones(2, 4, 3)),
    }
    pres = {m: torch.ones(2, dtype=torch.bool) for m in post}
    with pytest.raises(
        ValueError, match=r"different batch shapes \{'a': \(2, 5\), 'b': \(2, 4\)\}"
    ):
        Mean()(post, pres)


def test_rows_without_any_modality_are_listed_up_to_five():
    post = {m: dist.Normal(torch.zeros(8, 3), torch.ones(8, 3)) for m in "ab"}
    pres = {m: torch.tensor([False] * 7 + [True]) for m in "ab"}
    with pytest.raises(ValueError, match=r"missing in rows \[0, 1, 2, 3, 4\] \(first five\)"):
        Mean()(post, pres)


def test_any_present_defaults_to_every_mask():
    pres = {
        "a": torch.tensor([True, False, False]),
        "b": torch.tensor([False, False, False]),
        "c": torch.tensor([False, False, True]),
    }
    assert Mean.any_present(pres).tolist() == [True, False, True]
    assert Mean.any_present(pres, ["a", "b"]).tolist() == [True, False, False]


def test_default_and_given_priors_of_the_shared_site():
    assert Mean().default_prior(3).latent_dim == 3
    post = {m: dist.Normal(torch.zeros(2, 3), torch.ones(2, 3)) for m in "ab"}
    pres = {m: torch.ones(2, dtype=torch.bool) for m in "ab"}
    given = dist.Normal(torch.ones(2, 3), 2.0 * torch.ones(2, 3)).to_event(1)
    assert Mean().prior_distributions(post, pres, prior=given) == {"shared": given}

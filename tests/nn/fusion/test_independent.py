import torch

from pyrodyn.nn.fusion import Independent
from pyrodyn.testing.fusion import FusionConformance


class TestIndependentConformance(FusionConformance):
    def make_fusion(self):
        return Independent()


def test_sites_are_the_unimodal_posteriors():
    fk = TestIndependentConformance()
    post, pres = fk.posteriors(), fk.present()
    guides = Independent().guide_distributions(post, pres)
    z = torch.randn(4, 3)
    for m, q in post.items():
        torch.testing.assert_close(guides[m].log_prob(z), q.log_prob(z).sum(-1))
    priors = Independent().prior_distributions(post, pres)
    torch.testing.assert_close(
        priors["a"].log_prob(z), torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    )


def test_fused_latent_is_moment_matched_mixture():
    fk = TestIndependentConformance()
    post = fk.posteriors()
    pres = {m: torch.ones(4, dtype=torch.bool) for m in fk.modalities}
    fused = Independent()(post, pres)
    locs = torch.stack([q.loc for q in post.values()])
    second = torch.stack([q.scale**2 + q.loc**2 for q in post.values()]).mean(0)
    torch.testing.assert_close(fused.loc, locs.mean(0))
    torch.testing.assert_close(fused.scale**2, second - locs.mean(0) ** 2)

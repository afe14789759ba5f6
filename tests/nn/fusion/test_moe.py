import torch

from pyrodyn.nn.fusion import MixtureOfExperts
from pyrodyn.testing.fusion import FusionConformance


class TestMixtureOfExpertsConformance(FusionConformance):
    def make_fusion(self):
        return MixtureOfExperts()


def test_guide_is_uniform_mixture_of_available_experts():
    fk = TestMixtureOfExpertsConformance()
    post, pres = fk.posteriors(), fk.present()
    mix = MixtureOfExperts().guide_distributions(post, pres)["shared"]
    w = mix.weights
    torch.testing.assert_close(w[0], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(w[1], torch.full((3,), 1 / 3))
    z = torch.randn(4, 3)
    comp = torch.stack([q.log_prob(z).sum(-1) for q in post.values()], -1)
    want = torch.logsumexp(comp[1] + torch.log(torch.tensor(1 / 3)), -1)
    torch.testing.assert_close(mix.log_prob(z)[1], want)

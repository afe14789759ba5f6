import torch

from pyrodyn.nn.fusion import Mean
from pyrodyn.testing.fusion import FusionConformance


class TestMeanConformance(FusionConformance):
    def make_fusion(self):
        return Mean()


def test_average_of_means_and_variances():
    fk = TestMeanConformance()
    post, pres = fk.posteriors(), fk.present()
    fused = Mean()(post, pres)
    # row 1: all three present
    locs = torch.stack([q.loc[1] for q in post.values()])
    var = torch.stack([q.scale[1] ** 2 for q in post.values()])
    torch.testing.assert_close(fused.loc[1], locs.mean(0))
    torch.testing.assert_close(fused.scale[1] ** 2, var.mean(0))
    # row 0: "c" missing -> average over a and b
    torch.testing.assert_close(fused.loc[0], (post["a"].loc[0] + post["b"].loc[0]) / 2)

import numpy as np
import pyro.distributions as dist
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


def test_double_precision_average_matches_numpy():
    rng = np.random.default_rng(0)
    locs, scales = rng.normal(size=(3, 2, 4)), rng.uniform(0.5, 2.0, size=(3, 2, 4))
    post = {
        m: dist.Normal(torch.from_numpy(locs[i]), torch.from_numpy(scales[i]))
        for i, m in enumerate("abc")
    }
    pres = {m: torch.ones(2, dtype=torch.bool) for m in "abc"}
    fused = Mean()(post, pres)
    assert fused.loc.dtype == torch.float64
    # a third is not exact in single precision: the weights must be double too
    np.testing.assert_allclose(fused.loc.numpy(), locs.mean(0), rtol=1e-13)
    np.testing.assert_allclose(fused.scale.numpy() ** 2, (scales**2).mean(0), rtol=1e-13)

import copy

import pytest
import torch

from pyrodyn.diagnostics.kalman import kalman_smoother
from pyrodyn.distributions.markov_gaussian import MarkovGaussian
from pyrodyn.models.svae import SVAE
from pyrodyn.testing.lgssm import svae_to_lgssm
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


@pytest.fixture
def weight():
    g = torch.Generator().manual_seed(7)
    return torch.randn(4, 2, generator=g, dtype=torch.float64)


@pytest.fixture
def make_model(weight):
    """Linear-Gaussian model factory: ``make_model(guide_scale=..., guide_shift=...)``."""

    def make(**kw):
        return LinearGaussianModel(weight, noise=0.5, **kw)

    return make


@pytest.fixture
def lg_batch(make_model):
    return make_model().simulate(12, 3)


class KalmanGuideSVAE(SVAE):
    """An LGSSM SVAE whose guide is the exact posterior of each row's valid steps (Kalman/RTS).

    ``shift`` moves every marginal posterior mean by that much, ``widen`` multiplies the
    conditional scales (1 and 0: exact). Missing entries (the future LFO hides) drop out of the
    filter, so the guide is exact for any mask.
    """

    shift = 0.0
    widen = 1.0

    def variational(self, batch):
        ssm = svae_to_lgssm(self)
        parts = []
        for m in self.modalities:
            x = batch.obs[m].to(ssm.A.dtype).clone()
            x[~batch.mask[m]] = float("nan")
            parts.append(x)
        y = torch.cat(parts, -1)
        b, t, d = y.shape[0], y.shape[1], ssm.state_dim
        lengths = batch.valid_steps().sum(-1)
        loc = y.new_zeros(b, t, d)
        tril = torch.eye(d, dtype=y.dtype).expand(b, t, d, d).clone()
        coupling = y.new_zeros(b, t - 1, d, d)
        delta = torch.full((d,), float(self.shift), dtype=y.dtype)
        for n in lengths.unique().tolist():
            rows = (lengths == n).nonzero().squeeze(-1)
            sm = kalman_smoother(ssm, y[rows, :n])
            f, g = sm.filtered, sm.gains
            # backward chain p(z_t | z_{t+1}, y) = N(off_t + G_t z_{t+1}, cov_t)
            off = f.filt_means[:, :-1] - (g @ f.pred_means[:, 1:].unsqueeze(-1)).squeeze(-1)
            cov = f.filt_covs[:, :-1] - g @ f.pred_covs[:, 1:] @ g.transpose(-1, -2)
            # m_t + (I - G_t) delta shifts every marginal mean by delta
            loc[rows, : n - 1] = off + delta - (g @ delta.unsqueeze(-1)).squeeze(-1)
            loc[rows, n - 1] = sm.means[:, -1] + delta
            tril[rows, : n - 1] = torch.linalg.cholesky(0.5 * (cov + cov.transpose(-1, -2)))
            tril[rows, n - 1] = torch.linalg.cholesky(sm.covs[:, -1])
            coupling[rows, : n - 1] = g
        return MarkovGaussian(loc, tril * self.widen, coupling, batch.valid_steps())


@pytest.fixture
def kalman_guided():
    """``kalman_guided(lgssm_model, shift=0.0, widen=1.0)``: a copy with the exact guide."""

    def make(model, shift=0.0, widen=1.0):
        guided = copy.deepcopy(model)
        guided.__class__ = KalmanGuideSVAE
        guided.shift, guided.widen = float(shift), float(widen)
        return guided

    return make

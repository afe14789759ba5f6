"""`MarkovGaussian` against the dense Gaussian its parameters define, built in closed form.

The reference writes the chain as one linear system: with ``N`` the block upper-shift matrix
holding ``J_t`` at block ``(t, t+1)`` and ``L = blockdiag(L_t)``, ``(I - N) z = m + L e``, so
``z ~ N((I - N)^{-1} m, (I - N)^{-1} L L^T (I - N)^{-T})``; no recursion is involved.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from pyrodyn.distributions.markov_gaussian import MarkovGaussian

B, T, D = 3, 5, 2


def _params(seed: int = 0, b: int = B, t: int = T, d: int = D):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(b, t, d, generator=g, dtype=torch.float64)
    tril = torch.randn(b, t, d, d, generator=g, dtype=torch.float64).tril(-1)
    diag = 0.3 + torch.rand(b, t, d, generator=g, dtype=torch.float64)
    tril = tril + torch.diag_embed(diag)
    coupling = 0.7 * torch.randn(b, t - 1, d, d, generator=g, dtype=torch.float64)
    return loc, tril, coupling


def _dense(loc, tril, coupling, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of sequence ``i`` over the flattened ``(T D,)`` trajectory."""
    t, d = loc.shape[-2:]
    n = np.zeros((t * d, t * d))
    lbig = np.zeros((t * d, t * d))
    for s in range(t):
        lbig[s * d : (s + 1) * d, s * d : (s + 1) * d] = tril[i, s].numpy()
        if s < t - 1:
            n[s * d : (s + 1) * d, (s + 1) * d : (s + 2) * d] = coupling[i, s].numpy()
    inv = np.linalg.inv(np.eye(t * d) - n)
    return inv @ loc[i].reshape(-1).numpy(), inv @ lbig @ lbig.T @ inv.T


def test_log_prob_matches_dense_gaussian():
    loc, tril, coupling = _params()
    q = MarkovGaussian(loc, tril, coupling)
    assert q.batch_shape == (B,) and q.event_shape == (T, D)
    z = torch.randn(4, B, T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = q.log_prob(z)
    assert got.shape == (4, B)
    for i in range(B):
        mean, cov = _dense(loc, tril, coupling, i)
        ref = multivariate_normal(mean, cov).logpdf(z[:, i].reshape(4, -1).numpy())
        np.testing.assert_allclose(got[:, i].numpy(), ref, rtol=1e-10, atol=1e-10)


def test_mean_variance_entropy_match_dense_gaussian():
    loc, tril, coupling = _params(2)
    q = MarkovGaussian(loc, tril, coupling)
    for i in range(B):
        mean, cov = _dense(loc, tril, coupling, i)
        np.testing.assert_allclose(q.mean[i].reshape(-1).numpy(), mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            q.variance[i].reshape(-1).numpy(), np.diag(cov), rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(
            float(q.entropy()[i]), multivariate_normal(mean, cov).entropy(), rtol=1e-10
        )


def test_rsample_moments_match_dense_gaussian():
    loc, tril, coupling = _params(3)
    q = MarkovGaussian(loc, tril, coupling)
    torch.manual_seed(0)
    n = 40000
    z = q.rsample((n,))
    assert z.shape == (n, B, T, D)
    for i in range(B):
        mean, cov = _dense(loc, tril, coupling, i)
        flat = z[:, i].reshape(n, -1).numpy()
        sd = np.sqrt(np.diag(cov))
        # 5 standard errors of the mean; covariance entries within 0.05 of the scale product
        np.testing.assert_array_less(np.abs(flat.mean(0) - mean), 5 * sd / np.sqrt(n))
        emp = np.cov(flat, rowvar=False)
        np.testing.assert_array_less(np.abs(emp - cov), 0.05 * np.outer(sd, sd))


def test_rsample_is_reparameterised():
    loc, tril, coupling = _params(4)
    loc.requires_grad_(True)
    coupling.requires_grad_(True)
    q = MarkovGaussian(loc, tril, coupling)
    z = q.rsample((2,))
    z.sum().backward()
    # dz_1 / dm_T is J_1 ... J_{T-1} 1: nonzero through the coupling
    assert loc.grad is not None and coupling.grad is not None
    assert float(coupling.grad.abs().sum()) > 0


def test_expand_adds_sample_dims():
    loc, tril, coupling = _params(5)
    q = MarkovGaussian(loc, tril, coupling).expand((7, B))
    assert q.batch_shape == (7, B)
    assert q.rsample().shape == (7, B, T, D)
    z = torch.zeros(7, B, T, D, dtype=torch.float64)
    base = MarkovGaussian(loc, tril, coupling).log_prob(z[0])
    np.testing.assert_allclose(q.log_prob(z).numpy(), base.expand(7, B).numpy())


def test_plate_expanded_draws_match_dense_gaussian():
    """Expanded over draws (as a Pyro plate does): every draw has the dense density and the
    dense moments; the factors are broadcast, not copied per draw."""
    loc, tril, coupling = _params(8)
    mask = torch.arange(T) < torch.tensor([5, 4, 5])[:, None]
    q = MarkovGaussian(loc, tril, coupling, mask).expand((6000, B))
    assert q.scale_tril.stride(0) == 0 and q.coupling.stride(0) == 0
    torch.manual_seed(1)
    z = q.rsample()
    assert z.shape == (6000, B, T, D)
    got = q.log_prob(z)
    for i, n in enumerate((5, 4, 5)):
        sub = (loc[i : i + 1, :n], tril[i : i + 1, :n], coupling[i : i + 1, : n - 1])
        mean, cov = _dense(*sub, 0)
        flat = z[:, i, :n].reshape(6000, -1).numpy()
        ref = multivariate_normal(mean, cov).logpdf(flat[:50])
        np.testing.assert_allclose(got[:50, i].numpy(), ref, rtol=1e-10)
        sd = np.sqrt(np.diag(cov))
        np.testing.assert_array_less(np.abs(flat.mean(0) - mean), 5 * sd / np.sqrt(6000))
        np.testing.assert_array_less(
            np.abs(np.cov(flat, rowvar=False) - cov), 0.1 * np.outer(sd, sd)
        )


def test_mask_gives_the_chain_of_the_valid_prefix():
    """A padded sequence's density is the unpadded density of its valid steps."""
    loc, tril, coupling = _params(6)
    lengths = torch.tensor([5, 3, 1])
    mask = torch.arange(T) < lengths[:, None]
    q = MarkovGaussian(loc, tril, coupling, mask)
    z = torch.randn(B, T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    got = q.log_prob(z)
    for i, n in enumerate(lengths.tolist()):
        if n == 1:
            ref = multivariate_normal(loc[i, 0].numpy(), (tril[i, 0] @ tril[i, 0].T).numpy())
            np.testing.assert_allclose(float(got[i]), ref.logpdf(z[i, 0].numpy()), rtol=1e-10)
            continue
        sub = (loc[i : i + 1, :n], tril[i : i + 1, :n], coupling[i : i + 1, : n - 1])
        mean, cov = _dense(*sub, 0)
        ref = multivariate_normal(mean, cov).logpdf(z[i, :n].reshape(-1).numpy())
        np.testing.assert_allclose(float(got[i]), ref, rtol=1e-10)
    # padding never moves the valid steps' draws
    torch.manual_seed(0)
    a = q.rsample()
    torch.manual_seed(0)
    b = MarkovGaussian(loc + 100.0 * (~mask)[..., None], tril, coupling, mask).rsample()
    torch.testing.assert_close(a[mask], b[mask])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale_tril": torch.eye(3).expand(T, 3, 3)}, "scale_tril must have shape"),
        ({"coupling": torch.zeros(B, T, D, D)}, "coupling must have shape"),
        ({"mask": torch.ones(B, T + 1, dtype=torch.bool)}, "mask must have shape"),
        ({"mask": torch.tensor([[False, True, True, True, True]] * B)}, "prefix"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {
        "loc": torch.zeros(B, T, D),
        "scale_tril": torch.eye(D).expand(B, T, D, D),
        "coupling": torch.zeros(B, T - 1, D, D),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MarkovGaussian(**args)

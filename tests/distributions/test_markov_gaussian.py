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

from pyrodyn.distributions.markov_gaussian import MarkovGaussian, _apply, _compact

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
        ({"mask": torch.tensor([[True, False, True, True, True]] * B)}, "prefix"),
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


def test_unbatched_density_and_entropy_match_dense_gaussian():
    """Parameters without batch dims (one sequence), and one trajectory scored under a batch."""
    loc, tril, coupling = _params(9, b=1)
    q = MarkovGaussian(loc[0], tril[0], coupling[0])
    assert q.batch_shape == ()
    mean, cov = _dense(loc, tril, coupling, 0)
    ref = multivariate_normal(mean, cov)
    z = torch.randn(T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    np.testing.assert_allclose(float(q.log_prob(z)), ref.logpdf(z.reshape(-1)), rtol=1e-10)
    np.testing.assert_allclose(float(q.entropy()), ref.entropy(), rtol=1e-10)
    # an unbatched value against a batched distribution broadcasts to the batch
    loc, tril, coupling = _params(10)
    got = MarkovGaussian(loc, tril, coupling).log_prob(z)
    assert got.shape == (B,)
    for i in range(B):
        mean, cov = _dense(loc, tril, coupling, i)
        want = multivariate_normal(mean, cov).logpdf(z.reshape(-1))
        np.testing.assert_allclose(float(got[i]), want, rtol=1e-10)


def test_masked_entropy_is_the_entropy_of_the_valid_prefix():
    loc, tril, coupling = _params(11)
    lengths = [5, 3, 1]
    mask = torch.arange(T) < torch.tensor(lengths)[:, None]
    got = MarkovGaussian(loc, tril, coupling, mask).entropy()
    for i, n in enumerate(lengths):
        sub = (loc[i : i + 1, :n], tril[i : i + 1, :n], coupling[i : i + 1, : n - 1])
        mean, cov = _dense(*sub, 0)
        np.testing.assert_allclose(
            float(got[i]), multivariate_normal(mean, cov).entropy(), rtol=1e-10
        )


class _Tempered(MarkovGaussian):
    """A subclass with its own constructor, expanded through torch's ``_instance`` protocol."""

    def __init__(self, loc, scale_tril, coupling, temperature=1.0, validate_args=None):
        self.temperature = temperature
        super().__init__(loc, scale_tril * temperature, coupling, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(_Tempered, _instance)
        new.temperature = self.temperature
        return super().expand(batch_shape, _instance=new)


def test_expand_follows_the_torch_protocol():
    """Subclasses can reuse ``expand``; the validation flag is kept, parameters not re-checked."""
    loc, tril, coupling = _params(12)
    e = _Tempered(loc, tril, coupling, temperature=2.0).expand((4, B))
    assert type(e) is _Tempered and e.temperature == 2.0 and e.batch_shape == (4, B)
    z = torch.randn(4, B, T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    got = e.log_prob(z)
    mean, cov = _dense(loc, 2.0 * tril, coupling, 1)
    ref = multivariate_normal(mean, cov).logpdf(z[:, 1].reshape(4, -1).numpy())
    np.testing.assert_allclose(got[:, 1].numpy(), ref, rtol=1e-10)
    # a validated distribution stays validated once expanded (as a Pyro plate expands it)
    checked = MarkovGaussian(loc, tril, coupling, validate_args=True).expand((4, B))
    with pytest.raises(ValueError, match="support"):
        checked.log_prob(torch.full((4, B, T, D), float("nan"), dtype=torch.float64))
    # an unvalidated one is expanded as is: its parameters are not checked again on expand
    loose = MarkovGaussian(loc, -tril, coupling, validate_args=False)
    assert loose.expand((4, B)).batch_shape == (4, B)


@pytest.mark.parametrize("batched", ["loc", "scale_tril", "coupling", "mask"])
def test_any_factor_may_carry_the_batch(batched):
    """The batch shape broadcasts over all factors; an unbatched value is scored per sequence."""
    loc, tril, coupling = _params(13)
    lengths = [5, 3, 4] if batched == "mask" else [T] * B
    full = {
        "loc": loc,
        "scale_tril": tril,
        "coupling": coupling,
        "mask": torch.arange(T) < torch.tensor(lengths)[:, None],
    }
    args = {k: v[0] for k, v in full.items()}
    args["mask"] = None
    args[batched] = full[batched]
    q = MarkovGaussian(**args)
    assert q.batch_shape == (B,)
    z = torch.randn(T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    got, got_batched = q.log_prob(z), q.log_prob(z.expand(B, T, D))
    assert got.shape == (B,)
    for i, n in enumerate(lengths):
        f = {k: (full[k][i] if k == batched else full[k][0])[None] for k in full if k != "mask"}
        mean, cov = _dense(f["loc"][:, :n], f["scale_tril"][:, :n], f["coupling"][:, : n - 1], 0)
        ref = multivariate_normal(mean, cov).logpdf(z[:n].reshape(-1).numpy())
        np.testing.assert_allclose(float(got[i]), ref, rtol=1e-10)
        np.testing.assert_allclose(float(got_batched[i]), ref, rtol=1e-10)


def test_mask_shared_across_the_batch_and_given_as_numbers():
    """A ``(T,)`` mask applies to every sequence; 0/1 numbers are read as bools."""
    loc, tril, coupling = _params(14)
    z = torch.randn(B, T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    shared = torch.tensor([True, True, True, False, False])
    q = MarkovGaussian(loc, tril, coupling, shared)
    assert q.batch_shape == (B,)
    got = q.log_prob(z)
    for i in range(B):
        mean, cov = _dense(loc[i : i + 1, :3], tril[i : i + 1, :3], coupling[i : i + 1, :2], 0)
        ref = multivariate_normal(mean, cov).logpdf(z[i, :3].reshape(-1).numpy())
        np.testing.assert_allclose(float(got[i]), ref, rtol=1e-10)
    for numbers in (shared.double(), shared.long()):
        q_num = MarkovGaussian(loc, tril, coupling, numbers)
        torch.testing.assert_close(q_num.log_prob(z), got)
        torch.testing.assert_close(q_num.entropy(), q.entropy())


def test_rsample_is_the_linear_map_of_standard_normal_noise():
    """Under a fixed seed ``z = (I - N)^{-1} (m + L e)`` with ``e`` the generator's normals."""
    loc, tril, coupling = _params(15)
    q = MarkovGaussian(loc, tril, coupling)
    torch.manual_seed(6)
    z = q.rsample((2,))
    torch.manual_seed(6)
    e = torch.randn(2, B, T, D, dtype=torch.float64)
    for i in range(B):
        n = np.zeros((T * D, T * D))
        lbig = np.zeros((T * D, T * D))
        for s in range(T):
            lbig[s * D : (s + 1) * D, s * D : (s + 1) * D] = tril[i, s].numpy()
            if s < T - 1:
                n[s * D : (s + 1) * D, (s + 1) * D : (s + 2) * D] = coupling[i, s].numpy()
        rhs = loc[i].reshape(-1).numpy()[None] + e[:, i].reshape(2, -1).numpy() @ lbig.T
        want = np.linalg.solve(np.eye(T * D) - n, rhs.T).T
        np.testing.assert_allclose(z[:, i].reshape(2, -1).numpy(), want, rtol=1e-10, atol=1e-12)


def test_one_dimensional_chain_matches_dense_gaussian():
    """``D = 1``: size-1 event dims are not mistaken for broadcast batch dims."""
    loc, tril, coupling = _params(16, b=1, t=4, d=1)
    q = MarkovGaussian(loc[0], tril[0], coupling[0])
    mean, cov = _dense(loc, tril, coupling, 0)
    z = torch.randn(3, 4, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    ref = multivariate_normal(mean, cov).logpdf(z.reshape(3, -1).numpy())
    np.testing.assert_allclose(q.log_prob(z).numpy(), ref, rtol=1e-10)
    assert q.rsample((3,)).shape == (3, 4, 1)
    np.testing.assert_allclose(q.mean.reshape(-1).numpy(), mean, rtol=1e-10, atol=1e-12)


def test_single_step_chain_is_its_gaussian():
    """``T = 1`` (no coupling): ``N(m_1, L_1 L_1^T)``, also scored with leading sample dims."""
    loc, tril, coupling = _params(17, t=1)
    q = MarkovGaussian(loc, tril, coupling)
    z = torch.randn(3, B, 1, D, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    for value in (z, z[0]):
        got = q.log_prob(value)
        for i in range(B):
            ref = multivariate_normal(loc[i, 0].numpy(), (tril[i, 0] @ tril[i, 0].T).numpy())
            np.testing.assert_allclose(got[..., i].numpy(), ref.logpdf(value[..., i, 0, :].numpy()))
            np.testing.assert_allclose(float(q.entropy()[i]), ref.entropy(), rtol=1e-10)
    assert q.rsample((3,)).shape == (3, B, 1, D)


def test_compact_drops_exactly_the_leading_broadcast_dims():
    x = torch.randn(3, 2, 2)
    # size-1 dims (any stride) and stride-0 dims (any size) are dropped, up to batch_dims
    core, k = _compact(x.expand(4, 3, 2, 2), 2)
    assert k == 1 and core.shape == (3, 2, 2) and torch.equal(core, x)
    core, k = _compact(x[None], 1)
    assert k == 1 and torch.equal(core, x)
    core, k = _compact(x[None].expand(5, 1, 3, 2, 2), 3)
    assert k == 2 and torch.equal(core, x)
    # a size-1 dim after the batch dims is kept; a dim of size 2 with a stride is not broadcast
    core, k = _compact(torch.randn(1, 1, 2), 1)
    assert k == 1 and core.shape == (1, 2)
    core, k = _compact(torch.randn(2, 3, 2, 2), 2)
    assert k == 0 and core.shape == (2, 3, 2, 2)


@pytest.mark.parametrize(("mat_batch", "vec_batch"), [((3,), ()), ((), (4, 3)), ((1, 3), (4, 1))])
def test_apply_broadcasts_matrix_and_vector_batches(mat_batch, vec_batch):
    """``mat @ vec`` and ``mat^{-1} vec`` over broadcast batch dims, whichever side has them."""
    g = torch.Generator().manual_seed(18)
    mat = torch.randn(*mat_batch, D, D, generator=g, dtype=torch.float64).tril()
    mat = mat + 3.0 * torch.eye(D, dtype=torch.float64)
    vec = torch.randn(*vec_batch, D, generator=g, dtype=torch.float64)
    batch = np.broadcast_shapes(mat_batch, vec_batch)
    m = np.broadcast_to(mat.numpy(), (*batch, D, D))
    v = np.broadcast_to(vec.numpy(), (*batch, D))
    want = np.einsum("...ij,...j->...i", m, v)
    np.testing.assert_allclose(_apply(mat, vec).numpy(), want, rtol=1e-12)
    solved = np.linalg.solve(m, v[..., None])[..., 0]
    np.testing.assert_allclose(_apply(mat, vec, solve=True).numpy(), solved, rtol=1e-12)

import math

import gpytorch
import pyro
import pyro.distributions as dist
import pytest
import torch
from gpytorch.kernels import LinearKernel, MaternKernel, PeriodicKernel, RBFKernel, ScaleKernel

from pyrodyn.priors.base import PriorContext
from pyrodyn.priors.gp import DenseGPPrior, FourierGPPrior


def _rbf(ell, batch=()):
    k = RBFKernel(batch_shape=torch.Size(batch))
    k.lengthscale = ell
    return k


def _implied_and_dense(prior, t, dt=1.0):
    """Time-domain covariance B^T diag(s) B of the prior and the kernel matrix, float64."""
    basis = prior.basis(t, dt)
    with torch.no_grad():
        s = prior.variances(basis).double()
    mat = basis.matrix(dtype=torch.float64)
    implied = torch.einsum("ft,df,fu->dtu", mat, s, mat)
    x = torch.arange(t, dtype=torch.float64)[:, None] * dt
    with torch.no_grad():
        dense = prior.kernel.double()(x, x).to_dense()
    prior.kernel.float()
    return implied, dense


def _ctx(b, t, dt=1.0, lengths=None):
    times = (torch.arange(t, dtype=torch.float32) * dt).expand(b, t)
    return PriorContext(num_sequences=b, num_steps=t, times=times, lengths=lengths)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _rbf(10.0),
        lambda: ScaleKernel(_rbf(6.0)),
        lambda: MaternKernel(nu=1.5),
        lambda: MaternKernel(nu=0.5),
        lambda: PeriodicKernel() * _rbf(10.0),  # no closed form: wrapped-FFT fallback
    ],
    ids=["rbf", "scale_rbf", "matern32", "matern12", "locally_periodic_fft"],
)
def test_default_padding_matches_dense_kernel_within_0_1_percent(make):
    kernel = make()
    if isinstance(kernel, MaternKernel):
        kernel.lengthscale = 8.0
    prior = FourierGPPrior(kernel=kernel, jitter=0.0)
    implied, dense = _implied_and_dense(prior, 60, dt=1.0)
    rel = float((implied - dense).abs().max() / dense.diagonal(dim1=-2, dim2=-1).max())
    assert rel < 1e-3


def test_reference_padding_is_much_worse():
    """0.2 T padding (the reference's) at l = 30 bins is tens of percent off (spec 1.2)."""
    prior = FourierGPPrior(kernel=_rbf(30.0), jitter=0.0, padding=12.0, max_frequency=math.inf)
    implied, dense = _implied_and_dense(prior, 60)
    assert float((implied - dense).norm() / dense.norm()) > 0.2


def test_pruning_rule_and_its_cost():
    ell, kappa = 10.0, 1e8
    pruned = FourierGPPrior(kernel=_rbf(ell), jitter=0.0, condthresh=kappa, bandwidth=2.0)
    full = FourierGPPrior(kernel=_rbf(ell), jitter=0.0, max_frequency=math.inf)
    b, bf = pruned.basis(200), full.basis(200)
    assert b.n == bf.n
    # documented rule: keep omega <= bandwidth * omega_c, exp(-l^2 omega_c^2 / 2) = 1 / kappa
    omega_c = math.sqrt(2 * math.log(kappa)) / ell
    k_max = math.floor(2.0 * omega_c * b.n / (2 * math.pi))
    assert abs(b.max_index - k_max) <= 2
    assert b.num_coefficients < 0.5 * bf.num_coefficients
    implied, dense = _implied_and_dense(pruned, 200)
    implied_full, _ = _implied_and_dense(full, 200)
    assert float((implied - implied_full).abs().max()) < 1e-6
    assert float((implied - dense).abs().max()) < 1e-3


def test_pruned_frequencies_are_stored_and_reused_across_lengths():
    prior = FourierGPPrior(kernel=_rbf(5.0))
    b1 = prior.basis(50)
    wmax = float(prior.max_frequency)
    b2 = prior.basis(500)
    assert float(prior.max_frequency) == wmax
    assert b2.omega()[-1] <= wmax * (1 + 1e-6) and b1.omega()[-1] <= wmax * (1 + 1e-6)
    state = prior.state_dict()
    other = FourierGPPrior(kernel=_rbf(9.0))
    other.load_state_dict(state)
    assert other.basis(80).num_coefficients == prior.basis(80).num_coefficients


def test_dt_scaling():
    """The same kernel in seconds sampled at dt = 0.1 s matches its dense matrix."""
    prior = FourierGPPrior(kernel=_rbf(1.0), jitter=0.0, dt=0.1)
    implied, dense = _implied_and_dense(prior, 50, dt=0.1)
    assert float((implied - dense).abs().max()) < 1e-3


def test_kl_matches_monte_carlo_and_log_prob():
    prior = FourierGPPrior(kernel=_rbf(4.0, batch=(2,)))
    ctx = _ctx(3, 30)
    p = prior.distribution(ctx)
    f = p.event_shape[-1]
    q = dist.Normal(torch.randn(3, 2, f) * 0.3, torch.rand(3, 2, f) * 0.5 + 0.1)
    kl = prior.kl(q, ctx)
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(q.to_event(2), p))
    z = q.sample((4000,))
    mc = (q.to_event(2).log_prob(z) - p.log_prob(z)).mean(0)
    torch.testing.assert_close(kl, mc, rtol=0.1, atol=1.0)


def test_kernel_hyperparameters_receive_gradients():
    kernel = ScaleKernel(_rbf(5.0, batch=(2,)), batch_shape=torch.Size([2]))
    prior = FourierGPPrior(kernel=kernel)
    ctx = _ctx(4, 40)
    z = prior.distribution(ctx).sample()
    prior.log_prob(z, ctx).sum().backward()
    assert kernel.base_kernel.raw_lengthscale.grad.abs().min() > 0
    assert kernel.raw_outputscale.grad.abs().min() > 0


def test_site_in_a_pyro_trace_and_shapes():
    prior = FourierGPPrior(kernel=_rbf(5.0, batch=(3,)))
    ctx = _ctx(4, 25)
    with pyro.plate("sequences", 4, dim=-1):
        tr = pyro.poutine.trace(prior).get_trace(ctx)
    site = tr.nodes[prior.site_name]
    assert site["fn"].batch_shape == (4,)
    assert site["fn"].event_shape[0] == 3
    assert tr.nodes["_RETURN"]["value"].shape == (4, 25, 3)
    assert prior.sample(ctx, torch.Size([2])).shape == (2, 4, 25, 3)


def test_any_trial_length_at_call_time():
    prior = FourierGPPrior(kernel=_rbf(5.0))
    for t in (10, 37, 600):
        z = prior.sample(_ctx(2, t))
        assert z.shape == (2, t, 1)
    assert prior.basis(600).use_fft and not prior.basis(37).use_fft


def test_samples_have_the_kernel_covariance():
    prior = FourierGPPrior(kernel=_rbf(6.0), jitter=0.0)
    z = prior.sample(_ctx(1, 20), torch.Size([40000]))[:, 0, :, 0].double()
    emp = z.T @ z / z.shape[0]
    x = torch.arange(20.0, dtype=torch.float64)[:, None]
    k = torch.exp(-0.5 * (x - x.T) ** 2 / 36.0)
    assert float((emp - k).abs().max()) < 0.05


def test_hyperprior_enters_the_objective():
    kernel = _rbf(5.0)
    kernel.register_prior("ls_prior", gpytorch.priors.GammaPrior(3.0, 0.5), "lengthscale")
    prior = FourierGPPrior(kernel=kernel)
    ctx = _ctx(4, 20)
    with pyro.plate("sequences", 4, dim=-1):
        tr = pyro.poutine.trace(prior).get_trace(ctx)
    tr.compute_log_prob()
    site = tr.nodes[prior._pyro_get_fullname("hyperprior")]
    want = gpytorch.priors.GammaPrior(3.0, 0.5).log_prob(kernel.lengthscale).sum()
    torch.testing.assert_close(site["log_prob_sum"], want)


def test_posterior_from_pseudo_observations_matches_dense_gp_regression():
    kernel = _rbf(4.0)
    fourier = FourierGPPrior(kernel=kernel, jitter=1e-6)
    dense = DenseGPPrior(kernel=_rbf(4.0), jitter=1e-8)
    t = 30
    ctx = _ctx(2, t)
    loc = torch.randn(2, t, 1)
    scale = torch.full((2, t, 1), 0.5)
    w = torch.ones(2, t)
    w[1, 20:] = 0.0  # a shorter trial: padding steps carry no information
    qf = fourier.posterior(loc, scale, ctx, w)
    qd = dense.posterior(loc, scale, ctx, w)
    mean_f, _ = fourier.time_marginals(qf, ctx)
    mean_d = dense.to_latent(qd.mean, ctx)
    torch.testing.assert_close(mean_f, mean_d, atol=2e-3, rtol=0)
    # no information: the posterior is the prior
    q0 = fourier.posterior(loc, scale, ctx, torch.zeros(2, t))
    s = fourier.variances(fourier.grid(ctx))
    torch.testing.assert_close(q0.scale**2, s.expand_as(q0.scale), rtol=1e-4, atol=0)
    torch.testing.assert_close(q0.loc, torch.zeros_like(q0.loc))


def test_dense_prior_log_prob_matches_gpytorch():
    kernel = _rbf(3.0, batch=(2,))
    prior = DenseGPPrior(kernel=kernel, jitter=1e-6)
    ctx = _ctx(3, 15)
    z = prior.distribution(ctx).sample()
    assert z.shape == (3, 2, 15) and prior.to_latent(z, ctx).shape == (3, 15, 2)
    x = torch.arange(15.0)[:, None]
    with torch.no_grad():
        k = kernel(x, x).to_dense().double()
    k = k + 1e-6 * torch.eye(15, dtype=torch.float64)
    ref = torch.distributions.MultivariateNormal(torch.zeros(2, 15, dtype=torch.float64), k)
    torch.testing.assert_close(
        prior.log_prob(z, ctx).double(), ref.log_prob(z.double()).sum(-1), rtol=5e-3, atol=0.1
    )


# ---------------------------------------------------------------------- bad inputs
def test_non_stationary_kernel_is_refused():
    with pytest.raises(ValueError, match="not stationary"):
        FourierGPPrior(kernel=LinearKernel())


def test_non_decaying_kernel_is_refused_with_a_hint():
    prior = FourierGPPrior(kernel=PeriodicKernel())
    with pytest.raises(ValueError, match=r"does not decay.*ProductKernel"):
        prior.basis(50)


def test_trial_too_short_for_the_prior():
    prior = FourierGPPrior(kernel=_rbf(5.0))
    with pytest.raises(ValueError, match="at least 2 steps"):
        prior.basis(1)
    short = FourierGPPrior(kernel=_rbf(5.0), padding=0.0)
    with pytest.raises(ValueError, match="shorter than one step"):
        short.basis(30, 1.0)


def test_latent_dim_must_match_the_kernel_batch():
    with pytest.raises(ValueError, match="latent_dim=2 does not match"):
        FourierGPPrior(kernel=_rbf(5.0, batch=(3,)), latent_dim=2)
    assert FourierGPPrior(kernel=_rbf(5.0), latent_dim=4).latent_dim == 4


def test_irregular_times_are_refused():
    prior = FourierGPPrior(kernel=_rbf(5.0))
    times = torch.cumsum(torch.rand(2, 20) + 0.5, -1)
    with pytest.raises(ValueError, match="regularly spaced"):
        prior.sample(PriorContext(num_sequences=2, num_steps=20, times=times))


def test_not_a_kernel():
    with pytest.raises(TypeError, match=r"gpytorch\.kernels\.Kernel"):
        FourierGPPrior(kernel=lambda x: x)


def test_lengthscale_argument_initialises_every_part():
    kernel = ScaleKernel(RBFKernel()) + MaternKernel(nu=2.5)
    FourierGPPrior(kernel=kernel, lengthscale=7.0)
    assert kernel.kernels[0].base_kernel.lengthscale.item() == pytest.approx(7.0)
    assert kernel.kernels[1].lengthscale.item() == pytest.approx(7.0)
    with pytest.raises(ValueError, match="lengthscale must be positive"):
        FourierGPPrior(kernel=RBFKernel(), lengthscale=-1.0)


def test_loading_thresholds_resets_cached_grids():
    a = FourierGPPrior(kernel=_rbf(3.0))
    b = FourierGPPrior(kernel=_rbf(9.0))
    fa, fb = a.basis(40).num_coefficients, b.basis(40).num_coefficients
    assert fa != fb
    b.load_state_dict(a.state_dict())
    assert b.basis(40).num_coefficients == fa


@pytest.mark.parametrize("cls", [FourierGPPrior, DenseGPPrior])
def test_priors_share_one_argument_order(cls):
    kernel = RBFKernel(batch_shape=torch.Size([3]))
    new = cls(3, kernel)
    assert new.latent_dim == 3 and new.kernel is kernel
    with pytest.warns(FutureWarning, match=rf"{cls.__name__}\(kernel, latent_dim\) is the old"):
        old = cls(kernel, 3)
    assert old.latent_dim == 3 and old.kernel is kernel
    with pytest.raises(
        TypeError, match=r"kernel must be a gpytorch\.kernels\.Kernel, got NoneType"
    ):
        cls(3)

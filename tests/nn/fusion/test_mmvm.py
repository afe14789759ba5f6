import math

import pyro.distributions as dist
import pytest
import torch

from pyrodyn.distributions.mixture_kl import gaussian_kl
from pyrodyn.nn.fusion import MMVM, Independent
from pyrodyn.testing.fusion import FusionConformance

ESTIMATORS = ["pairwise", "lse", "mc"]


class TestMMVMConformance(FusionConformance):
    def make_fusion(self):
        return MMVM()


class TestMMVMLseAlphaConformance(FusionConformance):
    def make_fusion(self):
        return MMVM(alpha=0.3, estimator="lse")


class TestMMVMMonteCarloConformance(FusionConformance):
    def make_fusion(self):
        return MMVM(estimator="mc", num_samples=4)


def _post(num=3, batch=5, dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        f"m{i}": dist.Normal(
            torch.randn(batch, dim, generator=g), 0.4 + torch.rand(batch, dim, generator=g)
        )
        for i in range(num)
    }


def _all(post):
    return {m: torch.ones(q.loc.shape[0], dtype=torch.bool) for m, q in post.items()}


def _kl_std(q):
    return gaussian_kl(q.loc, q.scale, torch.zeros_like(q.loc), torch.ones_like(q.scale))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_alpha_one_equals_independent(estimator):
    post = _post()
    reg = MMVM(alpha=1.0, estimator=estimator, num_samples=20000).regularizer(post, _all(post))
    indep = sum(_kl_std(q) for q in post.values())
    tol = 0.05 if estimator == "mc" else 1e-5
    torch.testing.assert_close(reg, indep, rtol=tol, atol=tol)
    # and the site priors are N(0, I) exactly
    z = torch.randn(5, 4)
    h = MMVM(alpha=1.0).prior_distributions(post, _all(post))["m0"]
    p = Independent().prior_distributions(post, _all(post))["m0"]
    torch.testing.assert_close(h.log_prob(z), p.log_prob(z))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_one_modality_gives_zero_regulariser(estimator):
    post = _post(num=1)
    reg = MMVM(estimator=estimator).regularizer(post, _all(post))
    torch.testing.assert_close(reg, torch.zeros(5), atol=1e-6, rtol=0)
    # also when only one of three modalities is available
    post3 = _post()
    pres = {
        m: torch.tensor([True] * 5) if m == "m1" else torch.zeros(5, dtype=torch.bool)
        for m in post3
    }
    reg = MMVM(estimator=estimator).regularizer(post3, pres)
    torch.testing.assert_close(reg, torch.zeros(5), atol=1e-6, rtol=0)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_identical_encoders_give_zero(estimator):
    q = _post(num=1)["m0"]
    post = {"a": q, "b": q, "c": q}
    reg = MMVM(estimator=estimator).regularizer(post, _all(post))
    torch.testing.assert_close(reg, torch.zeros(5), atol=1e-5, rtol=0)


def test_registered_kl_equals_hand_computation():
    # two modalities, alpha = 0.2: h = 0.2 N(0, I) + 0.4 q1 + 0.4 q2
    post = _post(num=2, batch=3, dim=2)
    alpha = 0.2
    q1, q2 = post["m0"], post["m1"]
    k12 = gaussian_kl(q1.loc, q1.scale, q2.loc, q2.scale)
    k1n = _kl_std(q1)
    hand_pw = alpha * k1n + (1 - alpha) / 2 * (0.0 + k12)
    hand_lse = -torch.log(alpha * torch.exp(-k1n) + (1 - alpha) / 2 * (1.0 + torch.exp(-k12)))
    for estimator, hand in [("pairwise", hand_pw), ("lse", hand_lse)]:
        h = MMVM(alpha=alpha, estimator=estimator).prior_distributions(post, _all(post))["m0"]
        kl = torch.distributions.kl_divergence(q1.to_event(1), h)
        torch.testing.assert_close(kl, hand)
    # the mc estimator has no closed form: kl_divergence defers to Monte Carlo
    h = MMVM(estimator="mc").prior_distributions(post, _all(post))["m0"]
    with pytest.raises(NotImplementedError):
        torch.distributions.kl_divergence(q1.to_event(1), h)


def test_gaussian_kl_matches_torch():
    q, p = _post(num=2).values()
    want = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(gaussian_kl(q.loc, q.scale, p.loc, p.scale), want)


def test_regulariser_is_reference_pairwise_sum():
    # reference (spec 1.4): R = sum_m (1/M) sum_m' KL(q_m || q_m') at alpha = 0
    post = _post()
    qs = list(post.values())
    hand = sum(sum(gaussian_kl(a.loc, a.scale, b.loc, b.scale) for b in qs) / len(qs) for a in qs)
    torch.testing.assert_close(MMVM().regularizer(post, _all(post)), hand)


def test_estimator_ordering_on_random_posteriors():
    torch.manual_seed(0)
    post = _post(num=3, batch=8, dim=4, seed=3)
    pres = _all(post)
    fusion = {e: MMVM(estimator=e, num_samples=20000) for e in ESTIMATORS}
    h = fusion["pairwise"].prior_mixture(post, pres)
    q = post["m0"]
    pw = fusion["pairwise"].kl(q, h)
    lse = fusion["lse"].kl(q, h)
    mc = fusion["mc"].kl(q, h)
    assert bool((lse <= pw + 1e-6).all())
    assert bool((mc <= lse + 0.05).all())
    assert bool((lse <= math.log(3) + 1e-6).all())  # self is a component with weight 1/3


def test_masked_modality_is_no_mixture_component():
    post = _post()
    pres = _all(post)
    pres["m2"][:] = False
    h = MMVM().prior_mixture(post, pres)
    torch.testing.assert_close(h.weights[0], torch.tensor([0.5, 0.5, 0.0, 0.0]))
    reg = MMVM().regularizer(post, pres)
    two = {k: post[k] for k in ("m0", "m1")}
    torch.testing.assert_close(reg, MMVM().regularizer(two, _all(two)))


def test_detach_prior_stops_gradient_into_components():
    post = _post(num=2)
    for q in post.values():
        q.loc.requires_grad_()
    MMVM(detach_prior=True).kl(
        post["m0"], MMVM(detach_prior=True).prior_mixture(post, _all(post))
    ).sum().backward()
    assert post["m1"].loc.grad is None
    assert post["m0"].loc.grad is not None


def test_scheduled_alpha_overrides():
    post = _post()
    fusion = MMVM(alpha=0.0)
    torch.testing.assert_close(
        fusion.regularizer(post, _all(post), alpha=1.0),
        MMVM(alpha=1.0).regularizer(post, _all(post)),
    )


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_unit_interval_raises(alpha):
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        MMVM(alpha=alpha)
    post = _post()
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        MMVM().regularizer(post, _all(post), alpha=alpha)


def test_unknown_estimator_raises():
    with pytest.raises(ValueError, match="unknown MMVM estimator 'exact'"):
        MMVM(estimator="exact")


def test_bad_num_samples_raises():
    with pytest.raises(ValueError, match="num_samples"):
        MMVM(num_samples=0)


def _mixture_log_density(z, post, pres, alpha):
    """log h(z) by hand: (1 - alpha) / M' sum over available q_m, plus alpha N(0, I)."""
    avail = [m for m in post if bool(pres[m])]
    terms = [
        math.log((1 - alpha) / len(avail))
        + dist.Normal(post[m].loc, post[m].scale).log_prob(z).sum()
        for m in avail
    ]
    if alpha > 0:
        terms.append(math.log(alpha) + dist.Normal(0.0, 1.0).log_prob(z).sum())
    return torch.logsumexp(torch.stack(terms), 0)


def test_scheduled_alpha_reaches_the_prior_distributions():
    post = _post(num=2, batch=1, dim=3)
    pres = _all(post)
    z = torch.randn(1, 3)
    priors = MMVM(alpha=0.0).prior_distributions(post, pres, alpha=0.4)
    one = {m: dist.Normal(q.loc[0], q.scale[0]) for m, q in post.items()}
    expected = _mixture_log_density(z[0], one, {m: True for m in post}, 0.4)
    for m in post:
        torch.testing.assert_close(priors[m].log_prob(z)[0], expected)


def test_monte_carlo_regularizer_reuses_the_given_samples():
    # one-sample estimate at the given draws: sum over available m of log q_m(z_m) - log h(z_m)
    post = _post(num=3, batch=2, dim=3)
    pres = _all(post)
    pres["m2"][1] = False
    values = {m: torch.randn(2, 3, generator=torch.Generator().manual_seed(i))
              for i, m in enumerate(post)}  # fmt: skip
    reg = MMVM(alpha=0.2, estimator="mc").regularizer(post, pres, values=values)
    for b in range(2):
        one = {m: dist.Normal(q.loc[b], q.scale[b]) for m, q in post.items()}
        avail = {m: bool(pres[m][b]) for m in post}
        expected = sum(
            one[m].log_prob(values[m][b]).sum()
            - _mixture_log_density(values[m][b], one, avail, 0.2)
            for m in post
            if avail[m]
        )
        torch.testing.assert_close(reg[b], expected)


def test_default_prior_keeps_detach_prior():
    assert MMVM(detach_prior=True).default_prior(2).detach_prior is True
    assert MMVM().default_prior(2).detach_prior is False

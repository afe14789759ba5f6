"""The named-terms ELBOs against Pyro's own estimators and closed forms."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from pyrodyn.objectives import MeanFieldELBO, TraceELBO
from pyrodyn.objectives.elbo import TERM_KEY, TermsELBO, observed_term_name

X = torch.tensor([0.3, -1.2, 2.0, 0.7])


def _factor(name: str, value: torch.Tensor, term: str | None) -> None:
    infer = {"is_auxiliary": True} if term is None else {"is_auxiliary": True, TERM_KEY: term}
    unit = dist.Unit(value, has_rsample=True)
    pyro.sample(name, unit, obs=unit.sample(), infer=infer)


def model(x, prior_scale: float = 1.0, split: bool = False):
    term = "penalty" if split else None
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(0.0, prior_scale))
        pyro.sample("likelihoods.x.obs", dist.Normal(z, 0.5), obs=x)
        _factor("reg.a", -0.1 * z**2, term)
        _factor("reg.b", -0.2 * z.abs(), term)


def guide(x, prior_scale: float = 1.0, split: bool = False):
    loc = pyro.param("loc", torch.zeros(4))
    scale = pyro.param("scale", torch.ones(4), constraint=dist.constraints.positive)
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(loc, scale))


@pytest.mark.parametrize(
    ("ours", "theirs"), [(TraceELBO, Trace_ELBO), (MeanFieldELBO, TraceMeanField_ELBO)]
)
def test_loss_equals_pyros_and_terms_sum_to_it(ours, theirs):
    pyro.set_rng_seed(3)
    out = ours().loss_and_terms(model, guide, X)
    pyro.set_rng_seed(3)
    ref = theirs().differentiable_loss(model, guide, X)
    torch.testing.assert_close(out.loss.detach(), ref.detach())
    assert set(out.terms) == {"nll.x", "kl.z", "reg.a", "reg.b"}
    total = sum(float(v) for v in out.terms.values())
    assert total == pytest.approx(float(out.loss.detach()), rel=1e-6)
    out.loss.backward()
    assert pyro.param("loc").grad is not None


def test_mean_field_kl_term_is_the_closed_form():
    pyro.clear_param_store()
    pyro.param("loc", torch.tensor([0.5, -0.5, 1.0, 0.0]))
    pyro.param("scale", torch.tensor([0.5, 2.0, 1.0, 0.3]), constraint=dist.constraints.positive)
    out = MeanFieldELBO().loss_and_terms(model, guide, X, prior_scale=2.0)
    m, s = pyro.param("loc").detach(), pyro.param("scale").detach()
    kl = torch.log(2.0 / s) + (s**2 + m**2) / (2 * 4.0) - 0.5  # KL(N(m, s) || N(0, 2))
    torch.testing.assert_close(out.terms["kl.z"], kl.sum())


def test_sites_named_by_infer_term_are_summed_into_one_term():
    out = TraceELBO().loss_and_terms(model, guide, X, split=True)
    assert "penalty" in out.terms and not {"reg.a", "reg.b"} & set(out.terms)
    pyro.set_rng_seed(0)
    split = TraceELBO().loss_and_terms(model, guide, X, split=True).terms
    pyro.set_rng_seed(0)
    apart = TraceELBO().loss_and_terms(model, guide, X).terms
    torch.testing.assert_close(split["penalty"], apart["reg.a"] + apart["reg.b"])
    total = sum(float(v) for v in out.terms.values())
    assert total == pytest.approx(float(out.loss.detach()), rel=1e-6)


def test_options_reach_the_pair_under_the_callers_values():
    seen = []

    def m(x, prior_scale=1.0, split=False):
        seen.append(prior_scale)
        model(x, prior_scale, split)

    elbo = TraceELBO(options={"prior_scale": 3.0})
    out = elbo.loss_and_terms(m, guide, X)
    assert seen == [3.0] and out.kwargs == {"prior_scale": 3.0}
    seen.clear()
    elbo.loss_and_terms(m, guide, X, prior_scale=0.5)
    assert seen == [0.5]
    seen.clear()
    elbo.differentiable_loss(m, guide, X)  # Pyro's own entry point sees the options too
    assert seen == [3.0]


def test_prepare_transforms_the_arguments_model_and_guide_see():
    class Doubling(TraceELBO):
        def prepare(self, args, kwargs):
            args, kwargs = super().prepare(args, kwargs)
            return (args[0] * 2,), kwargs

    seen = []

    def m(x, **kw):
        seen.append(x)
        model(x, **kw)

    out = Doubling().loss_and_terms(m, guide, X)
    torch.testing.assert_close(seen[0], 2 * X)
    torch.testing.assert_close(out.args[0], 2 * X)


def test_score_function_sites_keep_pyros_gradient():
    def m(x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample("c", dist.Bernoulli(0.5))
            pyro.sample("likelihoods.x.obs", dist.Normal(2.0 * c - 1.0, 1.0), obs=x)

    def g(x):
        p = pyro.param("p", torch.full((4,), 0.3), constraint=dist.constraints.unit_interval)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("c", dist.Bernoulli(p))

    pyro.clear_param_store()
    pyro.set_rng_seed(1)
    out = TraceELBO().loss_and_terms(m, g, X)
    (grad,) = torch.autograd.grad(out.loss, [pyro.param("p").unconstrained()])
    pyro.set_rng_seed(1)
    ref = Trace_ELBO().differentiable_loss(m, g, X)
    (want,) = torch.autograd.grad(ref, [pyro.param("p").unconstrained()])
    torch.testing.assert_close(out.loss.detach(), ref.detach())
    torch.testing.assert_close(grad, want)


def test_vectorised_particles_average_the_terms():
    elbo = TraceELBO(num_particles=5, vectorize_particles=True, max_plate_nesting=1)
    pyro.set_rng_seed(2)
    out = elbo.loss_and_terms(model, guide, X)
    pyro.set_rng_seed(2)
    ref = Trace_ELBO(num_particles=5, vectorize_particles=True, max_plate_nesting=1)
    torch.testing.assert_close(out.loss.detach(), ref.differentiable_loss(model, guide, X).detach())
    total = sum(float(v) for v in out.terms.values())
    assert total == pytest.approx(float(out.loss.detach()), rel=1e-6)


def test_observed_term_names():
    assert observed_term_name("likelihoods.spikes.obs", ["spikes", "x"]) == "nll.spikes"
    assert observed_term_name("a.likelihoods.x.obs") == "nll.x"
    assert observed_term_name("y") == "nll.y"


def test_legacy_spec_and_errors():
    assert TermsELBO.legacy_spec({"a": 1}) == {"type": "TermsELBO", "a": 1}
    with pytest.raises(RuntimeError, match="no sample site"):
        TraceELBO().loss_and_terms(lambda: None, lambda: None)

import pyro
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods import Gaussian
from pyrodyn.models.mmvm import MultimodalVAE
from pyrodyn.models.multimodal_vae_objective import MultimodalVAEObjective
from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
from pyrodyn.nn.fusion import MMVM, Independent, ProductOfExperts
from pyrodyn.objectives.elbo import MeanFieldELBO, TermsELBO, TraceELBO
from pyrodyn.priors import MMVMMixturePrior, OrnsteinUhlenbeckPrior, StandardNormalPrior


def _model(fusion, **kw):
    liks = {"a": Gaussian(3), "b": Gaussian(2)}
    encs = {"a": StaticMLPEncoder(3, 2, (8,)), "b": StaticMLPEncoder(2, 2, (8,))}
    return MultimodalVAE(liks, encs, fusion, decoder_hidden=(8,), **kw)


def _batch(steps=None):
    g = torch.Generator().manual_seed(0)
    lead = (5,) if steps is None else (5, steps)
    data = {"a": torch.randn(*lead, 3, generator=g), "b": torch.randn(*lead, 2, generator=g)}
    return MultimodalBatch.from_tensors(data, static=steps is None)


# ---------------------------------------------------------------------- the objective
def test_is_a_mean_field_elbo_with_the_moved_model_keys():
    obj = MultimodalVAEObjective(beta=0.125, num_particles=2)
    assert isinstance(obj, MeanFieldELBO) and isinstance(obj, TermsELBO)
    assert obj.options == {"beta": 0.125, "kl_per_modality": True, "alpha": None}
    assert obj.num_particles == 2
    assert MultimodalVAEObjective.legacy_model_keys == {"beta", "kl_per_modality"}
    spec = MultimodalVAEObjective.legacy_spec({"beta": 0.5})
    assert spec == {"type": "MultimodalVAEObjective", "beta": 0.5}
    assert MultimodalVAE.default_objective is MultimodalVAEObjective


def test_bad_options_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"beta must be >= 0, got -1\.0"):
        MultimodalVAEObjective(beta=-1.0)
    with pytest.raises(TypeError, match=r"unknown options \['gamma'\]; valid options: \['alpha'"):
        MultimodalVAEObjective(gamma=1.0)
    with pytest.raises(TypeError, match=r"unknown options \['gamma'\]"):
        MultimodalVAEObjective(options={"gamma": 1.0})
    with pytest.raises(TypeError, match="kl_per_modality must be True or False"):
        MultimodalVAEObjective(kl_per_modality="yes")
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        MultimodalVAEObjective(alpha=2.0)


def test_scheduled_values_override_and_are_validated():
    model = _model(MMVM())
    batch = _batch()
    pyro.set_rng_seed(0)
    t1, _ = model.loss(batch, beta=0.5)
    model.elbo = MultimodalVAEObjective(beta=0.5)
    pyro.set_rng_seed(0)
    t2, _ = model.loss(batch)
    torch.testing.assert_close(t1, t2)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        model.loss(batch, beta=-0.5)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        model.loss(batch, alpha=-0.5)
    with pytest.raises(
        TypeError, match=r"unknown scheduled values \['horizon'\]; it accepts \['alpha', 'beta'"
    ):
        model.loss(batch, horizon=3)


def test_beta_zero_drops_the_kl_terms():
    model = _model(ProductOfExperts())
    total, terms = model.loss(_batch(), beta=0.0)
    assert float(terms["kl.shared"]) == 0.0
    torch.testing.assert_close(total.detach(), terms["nll.a"] + terms["nll.b"])


def test_terms_keep_their_history_names_under_any_objective():
    model = _model(MMVM())
    _, terms = model.loss(_batch())
    assert set(terms) == {"kl.a", "kl.b", "nll.a", "nll.b"}
    model.elbo = TraceELBO()  # the sites declare their term names (infer["term"])
    _, terms = model.loss(_batch())
    assert set(terms) == {"kl.a", "kl.b", "nll.a", "nll.b"}
    assert issubclass(MultimodalVAEObjective, MeanFieldELBO)


# ---------------------------------------------------------------------- the prior slot
def test_prior_slot_defaults_and_data_dependence():
    assert type(_model(ProductOfExperts()).prior) is StandardNormalPrior
    mmvm = _model(MMVM(alpha=0.2))
    assert isinstance(mmvm.prior, MMVMMixturePrior) and mmvm.prior.alpha == 0.2
    assert not mmvm.is_elbo
    assert _model(Independent()).is_elbo
    assert not _model(ProductOfExperts(), prior=MMVMMixturePrior(2)).is_elbo


@pytest.mark.parametrize("static", [True, False], ids=["static", "sequence"])
def test_independent_fusion_with_the_mixture_prior_is_mmvm(static):
    mmvm = _model(MMVM(alpha=0.3), static=static)
    other = _model(Independent(), prior=MMVMMixturePrior(2, alpha=0.3), static=static)
    other.load_state_dict(mmvm.state_dict())
    batch = _batch(None if static else 4)
    pyro.set_rng_seed(0)
    t1, _ = mmvm.loss(batch)
    pyro.set_rng_seed(0)
    t2, _ = other.loss(batch)
    torch.testing.assert_close(t1, t2)


def test_bad_priors_are_refused_naming_the_slot():
    with pytest.raises(ValueError, match="MultimodalVAE slot 'prior': the MMVM fusion brings"):
        _model(MMVM(), prior=StandardNormalPrior(2))
    with pytest.raises(ValueError, match="MultimodalVAE slot 'prior' needs latent_dim 2"):
        _model(Independent(), prior=StandardNormalPrior(3))
    with pytest.raises(ValueError, match="MultimodalVAE slot 'prior' is a static slot"):
        _model(Independent(), prior=OrnsteinUhlenbeckPrior(2))
    with pytest.raises(ValueError, match="must factorise over steps"):
        _model(Independent(), prior=OrnsteinUhlenbeckPrior(2), static=False)


def test_a_data_dependent_prior_reuses_the_guides_encoding_once():
    model, batch = _model(MMVM()), _batch()
    calls = []
    for enc in model.encoders.values():
        enc.register_forward_hook(lambda *_: calls.append(1))
    total, _ = model.loss(batch)
    assert len(calls) == 2 and torch.isfinite(total)  # one pass per modality, guide and model
    # an entry is used for the very batch object and unchanged encoder weights only
    model._handoff.put((batch,), model._stamp(), "encoding")
    with torch.no_grad():
        next(model.encoders.parameters()).add_(0.1)
    assert model._handoff.take((batch,), model._stamp()) is None
    model._handoff.put((batch,), model._stamp(), "encoding")
    assert model._handoff.take((_batch(),), model._stamp()) is None
    model._handoff.put((batch,), model._stamp(), "encoding")
    assert model._handoff.take((batch,), model._stamp()) == "encoding"
    assert model._handoff.take((batch,), model._stamp()) is None  # taken once

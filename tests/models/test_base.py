from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
from torch import nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.likelihoods.poisson import Poisson
from pyrodyn.models.base import GenerativeModel
from pyrodyn.nn.decoders import LinearDecoder


class TinyVAE(GenerativeModel):
    def __init__(self) -> None:
        super().__init__({"g": Gaussian(2), "c": Poisson(3)})
        self.dec = nn.ModuleDict({m: LinearDecoder(2, lik) for m, lik in self.likelihoods.items()})
        self.enc = nn.Linear(5, 4)

    def model(self, batch, beta: float = 1.0):
        with self.plate(batch):
            loc = batch.obs["g"].new_zeros(batch.num_sequences, batch.num_steps, 2)
            with pyro.poutine.scale(scale=beta):
                z = pyro.sample("z", dist.Normal(loc, 1.0).to_event(2))
            self.observe(batch, {m: self.dec[m](z) for m in self.modalities})

    def guide(self, batch, beta: float = 1.0):
        h = self.enc(torch.cat([batch.obs["g"], batch.obs["c"]], -1))
        with self.plate(batch), pyro.poutine.scale(scale=beta):
            pyro.sample("z", dist.Normal(h[..., :2], h[..., 2:].exp()).to_event(2))

    def encode(self, batch):
        return {"latent": self.enc(torch.cat([batch.obs["g"], batch.obs["c"]], -1))[..., :2]}


def _batch(lengths=None) -> MultimodalBatch:
    g = torch.Generator().manual_seed(1)
    return MultimodalBatch.from_tensors(
        {
            "g": torch.randn(3, 6, 2, generator=g),
            "c": torch.poisson(torch.ones(3, 6, 3), generator=g),
        },
        lengths=lengths,
    )


def test_model_and_guide_are_modules_holding_the_model():
    m = TinyVAE()
    assert isinstance(m.model, nn.Module) and m.model.owner is m
    elbo = Trace_ELBO()(m.model, m.guide)
    m.loss(_batch())
    assert {id(p) for p in elbo.parameters()} == {id(p) for p in m.parameters()}
    assert "bound pair method" in repr(m.guide)


def test_loss_terms_and_value_match_trace_elbo():
    m, b = TinyVAE(), _batch()
    pyro.set_rng_seed(3)
    total, terms = m.loss(b)
    assert set(terms) == {"nll.g", "nll.c", "kl.z"}  # no term for the plate's subsample site
    assert total.item() == pytest.approx(sum(terms.values()).item(), rel=1e-5)
    pyro.set_rng_seed(3)
    ref = Trace_ELBO().differentiable_loss(m.model, m.guide, b) / (3 * 6)
    assert total.item() == pytest.approx(ref.item(), rel=1e-5)
    total.backward()
    assert all(p.grad is not None for p in m.enc.parameters())


def test_beta_scales_only_the_kl_term():
    m, b = TinyVAE(), _batch()
    pyro.set_rng_seed(0)
    _, t1 = m.loss(b, beta=1.0)
    pyro.set_rng_seed(0)
    _, t2 = m.loss(b, beta=0.5)
    assert t2["kl.z"].item() == pytest.approx(0.5 * t1["kl.z"].item(), rel=1e-5)
    assert t2["nll.g"].item() == pytest.approx(t1["nll.g"].item(), rel=1e-5)


def test_normaliser_counts_observed_steps():
    m = TinyVAE()
    assert m.normaliser(_batch()) == 18
    assert m.normaliser(_batch(lengths=torch.tensor([2, 6, 4]))) == 12


def test_save_load_roundtrip_weights_only(tmp_path):
    m = TinyVAE()
    m.save(tmp_path / "m.pt", config={"model": {"type": "TinyVAE"}})
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["config"] == {"model": {"type": "TinyVAE"}}
    other = TinyVAE()
    rest = other.load(tmp_path / "m.pt")
    assert rest["config"]["model"]["type"] == "TinyVAE"
    for k, v in m.state_dict().items():
        assert torch.equal(v, other.state_dict()[k])


def test_load_rejects_foreign_file(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a pyrodyn checkpoint"):
        TinyVAE().load(tmp_path / "x.pt")


def test_import_changes_no_global_pyro_setting():
    import subprocess
    import sys

    code = (
        "import pyro; before = dict(pyro.settings.get()); import pyrodyn, pyrodyn.models, "
        "pyrodyn.infer, pyrodyn.models.svae; assert dict(pyro.settings.get()) == before, "
        "pyro.settings.get()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_parameters_are_module_local_in_pyrodyn_methods():
    a, b = TinyVAE(), TinyVAE()
    a.loss(_batch())
    b.encode(_batch())
    assert len(pyro.get_param_store()) == 0
    assert not torch.equal(a.enc.weight, b.enc.weight)
    assert not pyro.settings.get("module_local_params")


def test_a_model_built_under_module_local_params_works_under_the_defaults():
    with pyro.settings.context(module_local_params=True):
        m = TinyVAE()
    total, _ = m.loss(_batch())
    Trace_ELBO().differentiable_loss(m.model, m.guide, _batch())
    assert torch.isfinite(total)


def test_elbo_must_be_a_pyrodyn_objective():
    m = TinyVAE()
    with pytest.raises(TypeError, match=r"model\.elbo must be a pyrodyn objective"):
        m.elbo = Trace_ELBO()


def test_check_batch_errors():
    m = TinyVAE()
    with pytest.raises(ValueError, match=r"lacks modalities \['c'\]"):
        m.check_batch(_batch().select(["g"]))
    bad = _batch()
    bad.obs["c"][0, 0, 0] = -1.0
    with pytest.raises(ValueError, match="modality 'c'"):
        m.check_batch(bad)


def test_constructor_rejects_non_likelihoods():
    with pytest.raises(TypeError, match="likelihood of modality 'x' must be a pyrodyn Likelihood"):
        TinyVAE.__bases__[0].__init__(TinyVAE.__new__(TinyVAE), {"x": nn.Linear(1, 1)})
    with pytest.raises(ValueError, match="at least one modality"):
        TinyVAE.__bases__[0].__init__(TinyVAE.__new__(TinyVAE), {})


def test_capabilities_are_declared_not_sniffed():
    from pyrodyn.models.capabilities import Generates, require

    assert not TinyVAE.is_dynamical and not isinstance(TinyVAE(), Generates)
    with pytest.raises(
        TypeError, match="TinyVAE cannot free-run: it does not declare the Generates"
    ):
        require(TinyVAE(), Generates, "free-run")
    with pytest.raises(
        TypeError,
        match=r"declares the capabilities \['Generates'\] but does not implement \['generate'\]",
    ):

        class Half(TinyVAE, Generates):
            pass


def test_proper_prior_capability_names_improper_and_data_dependent_priors():
    from pyrodyn.models.capabilities import HasProperPrior
    from pyrodyn.models.svae import SVAE
    from pyrodyn.priors.flat import FlatPrior

    assert not isinstance(TinyVAE(), HasProperPrior)
    assert SVAE({"x": Gaussian(2)}, 3).improper_priors() == []
    flat = SVAE({"x": Gaussian(2)}, 3, prior=FlatPrior(3))
    assert isinstance(flat, HasProperPrior) and flat.improper_priors() == ["prior"]

    class DataDependent(FlatPrior):
        is_proper = True
        needs_posteriors = True

    class WithPriors(TinyVAE, HasProperPrior):
        def __init__(self) -> None:
            super().__init__()
            self.shared = FlatPrior(2)
            self.private = nn.ModuleDict({"g": DataDependent(2)})

    assert WithPriors().improper_priors() == ["shared", "private.g"]

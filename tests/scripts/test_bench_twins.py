"""scripts/bench_twins.py: every plain-torch twin equals ``model.loss`` at the same seed.

The twins are the reference bench.py times Pyro against, so each must compute the same loss:
every KL term, factor, weight and random draw of the model's Pyro pair. Tiny models and batches
with missing entries; the benchmark's own models (bench.build) are checked by bench.py itself.
"""

import pyro
import pytest
import torch


@pytest.fixture(scope="module")
def twins(load_script):
    return load_script("bench_twins")


def _liks():
    from pyrodyn.likelihoods import Gaussian, Poisson

    return {"gaussian": Gaussian(3), "poisson": Poisson(3)}


def _sequences(b=3, t=12, seed=0, static=False):
    """Gaussian + Poisson data with missing entries (each row keeps one modality)."""
    from pyrodyn.data.batch import MultimodalBatch

    g = torch.Generator().manual_seed(seed)
    shape = (b, 3) if static else (b, t, 3)
    gauss = torch.randn(*shape, generator=g)
    counts = torch.poisson(torch.full(shape, 2.0), generator=g)
    gauss[0, ..., 1] = float("nan")  # single missing entries
    if static:
        counts[1] = float("nan")  # a row without the Poisson modality
    else:
        counts[1, 3:6] = float("nan")  # steps without the Poisson modality
    return MultimodalBatch.from_tensors({"gaussian": gauss, "poisson": counts}, static=static)


def _mtf(sample_latent):
    from pyrodyn.dynamics.plrnn import ClippedShallowPLRNN
    from pyrodyn.models.mtf import MTF
    from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder

    enc = TemporalConvEncoder(6, 4, kernel_sizes=(3,), use_mask=False)
    dyn = ClippedShallowPLRNN(4, hidden_dim=8)
    return MTF(_liks(), dyn, tau=4, encoder=enc, sample_latent=sample_latent)


def _mmvm(beta):
    from pyrodyn.models.mmvm import MultimodalVAE, MultimodalVAEObjective
    from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
    from pyrodyn.nn.fusion import MMVM

    encs = {m: StaticMLPEncoder(3, 2, (8,)) for m in ("gaussian", "poisson")}
    model = MultimodalVAE(_liks(), encs, MMVM(alpha=0.2), decoder_hidden=(8,), static=True)
    model.modality_weights["poisson"] = 0.5
    model.elbo = MultimodalVAEObjective(beta=beta)
    return model


def _ladid(score_context=True):
    from pyrodyn.dynamics.query import QueryDynamics
    from pyrodyn.models.ladid import LaDID, LaDIDObjective
    from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer

    encs = {
        m: ContinuousTimeTransformer(3, 4, model_dim=8, num_layers=1)
        for m in ("gaussian", "poisson")
    }
    dyn = QueryDynamics(4, 4, max_period=100.0, hidden=(8,), dropout=0.0)
    model = LaDID(_liks(), encs, dyn, context=4)
    if not score_context:  # only the query frames are scored (and counted by the normaliser)
        model.elbo = LaDIDObjective(score_context=False)
    return model


def _svae():
    from pyrodyn.models.svae import SVAE

    return SVAE(_liks(), latent_dim=2)


def _mmgpvae(hyperprior=False):
    from pyrodyn.models.mmgpvae import MMGPVAE

    if not hyperprior:
        return MMGPVAE(_liks(), encoder_hidden=(8,), lengthscale=3.0)
    from gpytorch.kernels import RBFKernel
    from gpytorch.priors import GammaPrior

    from pyrodyn.priors.gp.fourier import FourierGPPrior

    kernel = RBFKernel(batch_shape=torch.Size([1]))
    kernel.register_prior("lengthscale_prior", GammaPrior(3.0, 0.5), "lengthscale")
    kernel.lengthscale = 4.0
    prior = FourierGPPrior(kernel=kernel, latent_dim=1)
    return MMGPVAE(_liks(), encoder_hidden=(8,), shared_prior=prior)


CASES = {
    "SVAE": (_svae, {}),
    "MMGPVAE": (_mmgpvae, {}),
    "MMGPVAE-hyperprior": (lambda: _mmgpvae(True), {}),
    "MTF-mean": (lambda: _mtf(False), {}),
    "MTF-sampled": (lambda: _mtf(True), {}),
    "MultimodalVAE": (lambda: _mmvm(1.0), {"static": True}),
    "MultimodalVAE-beta": (lambda: _mmvm(0.3), {"static": True}),
    "LaDID": (_ladid, {}),
    "LaDID-query-only": (lambda: _ladid(False), {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_twin_equals_model_loss_at_the_same_seed(twins, case):
    make, data = CASES[case]
    pyro.set_rng_seed(0)
    model = make()
    batch = _sequences(**data)
    model.train()
    twin = twins.TWINS[case.split("-")[0]]
    with torch.no_grad():
        model.loss(batch)  # lazily created parameters
        for seed in (1, 2):
            pyro.set_rng_seed(seed)
            ref, terms = model.loss(batch)
            pyro.set_rng_seed(seed)
            got = twin(model, batch)
            assert float(got) == pytest.approx(float(ref), rel=1e-5, abs=1e-6)
    # the case exercises what it is meant to: every term of the loss is non-zero
    nonzero = {k for k, v in terms.items() if float(v) != 0.0}
    if case == "MTF-mean":  # a point-mass teacher has no entropy term
        assert nonzero == set(terms) - {"kl.latent"}
    else:
        assert nonzero == set(terms)


def test_twin_gradients_equal_the_model_loss_gradients(twins):
    pyro.set_rng_seed(0)
    model = _mtf(True)
    batch = _sequences()
    model.train()
    with torch.no_grad():
        model.loss(batch)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = []
    for loss in (lambda: model.loss(batch)[0], lambda: twins.TWINS["MTF"](model, batch)):
        pyro.set_rng_seed(3)
        grads.append(torch.autograd.grad(loss(), params, allow_unused=True))
    for a, b in zip(*grads, strict=True):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_twins_cover_every_benchmarked_model(twins, load_script):
    bench = load_script("bench")
    assert set(twins.TWINS) == set(bench.MODELS)

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.dynamics.base import LinearDynamics
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.likelihoods.ordinal import Ordinal
from pyrodyn.likelihoods.poisson import Poisson
from pyrodyn.models.svae import SVAE
from pyrodyn.nn.decoders import LinearDecoder
from pyrodyn.testing.model import ModelConformance, check_model_guide, check_svi_step


def _model(latent_dim: int = 3, **kw) -> SVAE:
    return SVAE(
        {"g": Gaussian(2), "p": Poisson(3), "o": Ordinal(2, 4)}, latent_dim=latent_dim, **kw
    )


def _batch(b: int = 4, t: int = 12, lengths=None, device="cpu") -> MultimodalBatch:
    g = torch.Generator().manual_seed(0)
    return MultimodalBatch.from_tensors(
        {
            "g": torch.randn(b, t, 2, generator=g),
            "p": torch.poisson(torch.ones(b, t, 3), generator=g),
            "o": torch.randint(1, 5, (b, t, 2), generator=g).float(),
        },
        lengths=lengths,
    ).to(device)


def test_smoke_one_step(device):
    m, b = _model().to(device), _batch(device=device)
    check_model_guide(m, b)
    check_svi_step(m, b)
    total, terms = m.loss(b, beta=0.5)
    assert torch.isfinite(total)
    assert set(terms) == {"nll.g", "nll.p", "nll.o", "kl.prior.z"}


def test_shapes(device):
    m, b = _model().to(device), _batch(device=device)
    assert m.encode(b)["latent"].shape == (4, 12, 3)
    fc = m.forecast(b, 5)
    assert {k: tuple(v.shape) for k, v in fc.items()} == {
        "g": (4, 12, 5, 2),
        "p": (4, 12, 5, 3),
        "o": (4, 12, 5, 2),
    }
    gen = m.generate(7, init=b, num_trials=6, burn_in=3)
    assert {k: tuple(v.shape) for k, v in gen.items()} == {
        "g": (6, 7, 2),
        "p": (6, 7, 3),
        "o": (6, 7, 2),
        "latent": (6, 7, 3),
    }
    assert set(gen["o"].unique().tolist()) <= {1.0, 2.0, 3.0, 4.0}
    assert m.is_dynamical


def test_generate_is_the_models_own_free_run():
    m, b = _model(), _batch()
    with torch.no_grad():
        m.dynamics.A.copy_(torch.tensor([[0.9, -0.2, 0.0], [0.2, 0.9, 0.0], [0.0, 0.0, 0.5]]))
        m.dynamics.b.fill_(0.1)
    gen = m.generate(6, init=b, num_trials=4, noise=False)
    z = gen["latent"]
    torch.testing.assert_close(z[:, 0], m.encode(b)["latent"][:, 0].detach())
    torch.testing.assert_close(z[:, 1:], m.dynamics.step(z[:, :-1]).detach())
    dec = m.decoders["g"](z)["loc"]
    torch.testing.assert_close(gen["g"], dec.detach())
    # with burn-in the kept part continues the same trajectory
    gen2 = m.generate(3, init=b, num_trials=4, burn_in=3, noise=False)
    torch.testing.assert_close(gen2["latent"], z[:, 3:6])
    # without init: a prior draw, and noise makes runs differ
    torch.manual_seed(0)
    a = m.generate(5, num_trials=2)["latent"]
    assert not torch.allclose(a, m.generate(5, num_trials=2)["latent"])


def test_forecast_rolls_posterior_mean_through_dynamics():
    m, b = _model(), _batch()
    fc = m.forecast(b, 3, prediction="mean")
    z = m.encode(b)["latent"]
    z2 = m.dynamics.step(m.dynamics.step(z))
    expect = m.decoders["g"](z2)["loc"]
    torch.testing.assert_close(fc["g"][:, :, 1], expect)


def test_padding_does_not_change_the_loss():
    lengths = torch.tensor([12, 7, 12, 5])
    b1 = _batch(lengths=lengths)
    b2 = _batch(lengths=lengths)
    for m_ in ("g", "p"):
        x = b2.obs[m_]
        x[1, 7:] = x[1, 7:] + 3.0
        x[3, 5:] = x[3, 5:] + 2.0
    m = _model()
    torch.manual_seed(0)
    l1, _ = m.loss(b1)
    torch.manual_seed(0)
    l2, _ = m.loss(b2)
    assert l1.item() == pytest.approx(l2.item(), rel=1e-6)


def test_custom_components():
    liks = {"g": Gaussian(2)}
    m = SVAE(liks, 4, dynamics=LinearDynamics(4), decoder={"g": LinearDecoder(4, liks["g"])})
    assert isinstance(m.decoders["g"], LinearDecoder)
    m2 = SVAE({"g": Gaussian(2)}, 4, decoder="mlp", decoder_hidden=(8,))
    assert m2.loss(MultimodalBatch.from_tensors({"g": torch.randn(2, 5, 2)}))[0].isfinite()


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"dynamics.latent_dim is 2 but latent_dim is 3"):
        _model(dynamics=LinearDynamics(2))
    with pytest.raises(ValueError, match="decoder must be 'linear', 'mlp'"):
        _model(decoder="cnn")
    with pytest.raises(ValueError, match="decoder must map every modality"):
        _model(decoder={"g": LinearDecoder(3, Gaussian(2))})
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        _model().forecast(_batch(), 0)
    with pytest.raises(ValueError, match="need num_steps >= 1"):
        _model().generate(0)


@pytest.mark.slow
def test_learns_a_linear_system():
    """A rotating 2-D linear system seen through noisy Gaussian channels: after fitting, the
    one-step forecast beats predicting the current value and the free run keeps oscillating."""
    from pyrodyn.infer import fit, linear

    rng = np.random.default_rng(0)
    theta = 2 * np.pi / 20
    a = 0.99 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    z = np.zeros((16, 100, 2))
    z[:, 0] = rng.normal(size=(16, 2)) * 2
    for t in range(99):
        z[:, t + 1] = z[:, t] @ a.T + 0.05 * rng.normal(size=(16, 2))
    x = z @ rng.normal(size=(2, 4)) + 0.1 * rng.normal(size=(16, 100, 4))
    ds = MultimodalDataset({"g": x})
    model = SVAE({"g": Gaussian(4)}, latent_dim=2)
    fit(
        model,
        ds,
        steps=800,
        lr=1e-2,
        batch_size=16,
        window=40,
        schedules={"beta": linear(0.2, 1.0, 300)},
    )
    b = ds.batch()
    with torch.no_grad():
        fc = model.forecast(b, 1)["g"][:, :-1, 0]
    mse_model = ((fc - b.obs["g"][:, 1:]) ** 2).mean().item()
    mse_persist = ((b.obs["g"][:, :-1] - b.obs["g"][:, 1:]) ** 2).mean().item()
    assert mse_model < 0.5 * mse_persist
    eig = torch.linalg.eigvals(model.dynamics.A.detach())
    assert eig.abs().max().item() == pytest.approx(0.99, abs=0.05)
    assert eig.angle().abs().max().item() == pytest.approx(theta, abs=0.05)


def test_custom_prior_replaces_the_dynamical_prior():
    from pyrodyn.likelihoods import Gaussian
    from pyrodyn.priors import OrnsteinUhlenbeckPrior

    prior = OrnsteinUhlenbeckPrior(2)
    model = SVAE({"x": Gaussian(3)}, latent_dim=2, prior=prior)
    assert model.prior is prior
    batch = MultimodalBatch.from_tensors({"x": torch.randn(4, 12, 3)})
    total, terms = model.loss(batch)
    assert torch.isfinite(total)
    assert any(k.startswith("kl.") for k in terms)
    with pytest.raises(TypeError, match="no transition map"):
        model.generate(5)
    with pytest.raises(ValueError, match="either `prior` or `dynamics`"):
        SVAE({"x": Gaussian(3)}, latent_dim=2, prior=prior, dynamics=LinearDynamics(2))
    with pytest.raises(ValueError, match=r"slot .prior. needs latent_dim 3"):
        SVAE({"x": Gaussian(3)}, latent_dim=3, prior=OrnsteinUhlenbeckPrior(2))


class TestSVAEConformance(ModelConformance):
    def make_model(self):
        return _model()

    def make_batch(self):
        return _batch()

    def swap_prior(self, model):
        from gpytorch.kernels import RBFKernel

        from pyrodyn.priors.gp.fourier import FourierGPPrior

        return SVAE(
            {"g": Gaussian(2), "p": Poisson(3), "o": Ordinal(2, 4)},
            latent_dim=3,
            prior=FourierGPPrior(kernel=RBFKernel(batch_shape=torch.Size([3])), latent_dim=3),
        )


def _sequence_priors():
    from gpytorch.kernels import MaternKernel, RBFKernel

    from pyrodyn.dynamics.plrnn import ClippedShallowPLRNN
    from pyrodyn.priors.dynamical import DynamicalPrior
    from pyrodyn.priors.gp.dense import DenseGPPrior
    from pyrodyn.priors.gp.fourier import FourierGPPrior
    from pyrodyn.priors.normal import StandardNormalPrior
    from pyrodyn.priors.ou import OrnsteinUhlenbeckPrior

    return {
        "normal": lambda: StandardNormalPrior(3),
        "ou": lambda: OrnsteinUhlenbeckPrior(3),
        "plrnn": lambda: DynamicalPrior(ClippedShallowPLRNN(3, 8)),
        "fourier": lambda: FourierGPPrior(
            kernel=RBFKernel(batch_shape=torch.Size([3])), latent_dim=3
        ),
        "dense": lambda: DenseGPPrior(
            kernel=MaternKernel(nu=1.5, batch_shape=torch.Size([3])), latent_dim=3
        ),
    }


@pytest.mark.parametrize("name", ["normal", "ou", "plrnn", "fourier", "dense"])
def test_every_shipped_sequence_prior_fills_the_slot(name):
    from pyro.infer import Predictive

    model = SVAE(
        {"g": Gaussian(2), "p": Poisson(3), "o": Ordinal(2, 4)},
        latent_dim=3,
        prior=_sequence_priors()[name](),
    )
    batch = _batch(lengths=torch.tensor([12, 9, 12, 5]))
    check_model_guide(model, batch)
    check_svi_step(model, batch)
    assert model.encode(batch)["latent"].shape == (4, 12, 3)
    with torch.no_grad():
        out = Predictive(model.model, guide=model.guide, num_samples=2, parallel=True)(
            batch.without_observations()
        )
    assert out["likelihoods.g.obs"].shape == (2, 4, 12, 2)

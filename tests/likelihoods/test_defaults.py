"""The documented default options of every likelihood family."""

import math

import pytest
import torch

from pyrodyn.likelihoods import (
    Categorical,
    Gaussian,
    Laplace,
    NegativeBinomial,
    Poisson,
    ZeroInflatedPoisson,
)


def test_gaussian_defaults():
    lik = Gaussian(2)
    assert lik.learn_scale and not lik.scale_from_decoder and lik.modality is None
    torch.testing.assert_close(lik.scale, torch.ones(2))
    # decoded scale: softplus(raw) + 1e-6, so a very negative raw gives the floor
    decoded = Gaussian(2, scale_from_decoder=True)
    d = decoded.distribution({"loc": torch.zeros(2), "scale": torch.full((2,), -1e4)})
    torch.testing.assert_close(d.scale, torch.full((2,), 1e-6), rtol=1e-6, atol=0)


def test_laplace_negative_binomial_poisson_zip_categorical_defaults():
    laplace = Laplace(2)
    assert not laplace.learn_scale and not list(laplace.parameters())
    torch.testing.assert_close(laplace.scale, torch.full((2,), 0.75))
    nb = NegativeBinomial(2)
    assert [n for n, _ in nb.named_parameters()] == ["total_count_unconstrained"]
    torch.testing.assert_close(nb.total_count, torch.full((2,), 10.0))
    poisson = Poisson(2)
    torch.testing.assert_close(poisson.intercept.detach(), torch.zeros(2))
    zip_ = ZeroInflatedPoisson(2)
    assert not zip_.gate_from_decoder
    torch.testing.assert_close(torch.sigmoid(zip_.gate_logits.detach()), torch.full((2,), 0.1))
    cat = Categorical(3)
    assert (cat.num_channels, cat.one_hot, cat.reference_class) == (1, False, False)
    assert cat.param_shapes == {"logits": (1, 3)}


def test_gaussian_decoded_scale_head_init():
    """Only the scale head is touched: weights shrunk 100x, bias at softplus^-1(scale)."""
    lik = Gaussian(2, scale=2.0, scale_from_decoder=True)
    heads = {k: torch.nn.Linear(4, 2) for k in ("loc", "scale")}
    before = {k: (h.weight.detach().clone(), h.bias.detach().clone()) for k, h in heads.items()}
    for k, h in heads.items():
        lik.init_decoder_head(k, h.weight, h.bias)
    torch.testing.assert_close(heads["scale"].weight.detach(), 0.01 * before["scale"][0])
    want = math.log(math.expm1(2.0))  # softplus(want) = 2
    torch.testing.assert_close(heads["scale"].bias.detach(), torch.full((2,), want))
    torch.testing.assert_close(heads["loc"].weight.detach(), before["loc"][0])
    torch.testing.assert_close(heads["loc"].bias.detach(), before["loc"][1])
    # a scale head without a bias cannot be started at the scale: left as is
    nobias = torch.nn.Linear(4, 2, bias=False)
    w0 = nobias.weight.detach().clone()
    lik.init_decoder_head("scale", nobias.weight, None)
    torch.testing.assert_close(nobias.weight.detach(), w0)


def test_decoded_scale_head_starts_at_one_by_default():
    lik = Gaussian(2, scale_from_decoder=True)
    head = torch.nn.Linear(4, 2)
    lik.init_decoder_head("scale", head.weight, head.bias)
    torch.testing.assert_close(torch.nn.functional.softplus(head.bias.detach()), torch.ones(2))


def test_learned_dispersion_stays_positive():
    nb = NegativeBinomial(2)
    with torch.no_grad():
        nb.total_count_unconstrained.fill_(-5.0)  # any unconstrained value
    assert bool((nb.total_count > 0).all())
    with pytest.raises(ValueError, match=r"^total_count must hold positive"):
        NegativeBinomial(2, total_count=0.0)


def test_laplace_scale_checked_and_kept_positive_when_learned():
    with pytest.raises(ValueError, match=r"^scale must hold positive"):
        Laplace(2, scale=0.0)
    lik = Laplace(2, learn_scale=True)
    with torch.no_grad():
        lik.scale_unconstrained.fill_(-5.0)  # any unconstrained value
    assert bool((lik.scale > 0).all())


def test_zip_gate_bounds_and_decoded_gate_has_no_parameter():
    for gate in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"gate must lie in \(0, 1\)"):
            ZeroInflatedPoisson(2, gate=gate)
    decoded = ZeroInflatedPoisson(2, gate_from_decoder=True)
    assert decoded.gate_logits is None and not list(decoded.parameters())

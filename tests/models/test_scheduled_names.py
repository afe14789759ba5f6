"""A misspelt scheduled value (``fit.schedules.betta``) is refused, naming the valid names.

MultipleShooting and MTF already refuse unknown scheduled values with a TypeError
``<Model> got unknown scheduled values [...]; it accepts [...]``; MultimodalVAE (with its own
or a generic objective) and MMGPVAE say the same instead of ignoring the value or failing with
Python's bare ``unexpected keyword argument``.
"""

from __future__ import annotations

import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.mmgpvae import MMGPVAE
from pyrodyn.models.mmvm import MultimodalVAE
from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
from pyrodyn.nn.fusion import Mean
from pyrodyn.objectives.elbo import MeanFieldELBO, TraceELBO

#: The keywords MultimodalVAE's model and guide take (written out: the reference of the test).
MMVAE_NAMES = r"\['alpha', 'beta', 'kl_per_modality'\]"


def _mmvae(objective=None):
    liks = {"a": Gaussian(4), "c": Poisson(5)}
    encs = {m: StaticMLPEncoder(n, 3, (8,)) for m, n in (("a", 4), ("c", 5))}
    model = MultimodalVAE(liks, encs, Mean(), decoder_hidden=(8,), static=True)
    if objective is not None:
        model.elbo = objective
    return model


def _static_batch(n=6):
    g = torch.Generator().manual_seed(0)
    data = {
        "a": torch.randn(n, 4, generator=g),
        "c": torch.poisson(torch.full((n, 5), 2.0), generator=g),
    }
    return MultimodalBatch.from_tensors(data, static=True)


def _mmgpvae():
    return MMGPVAE(
        {"spikes": Poisson(3), "images": Gaussian(2)},
        encoder_hidden=(8,),
        decoder_hidden={"images": (8,)},
        lengthscale=4.0,
    )


def _sequence_batch(b=2, t=8):
    g = torch.Generator().manual_seed(0)
    data = {
        "spikes": torch.poisson(torch.full((b, t, 3), 2.0), generator=g),
        "images": torch.randn(b, t, 2, generator=g),
    }
    return MultimodalBatch.from_tensors(data)


@pytest.mark.parametrize("objective", [None, MeanFieldELBO, TraceELBO], ids=str)
def test_multimodal_vae_refuses_a_misspelt_scheduled_value(objective):
    model = _mmvae(None if objective is None else objective())
    with pytest.raises(
        TypeError,
        match=rf"MultimodalVAE got unknown scheduled values \['betta'\]; it accepts {MMVAE_NAMES}",
    ):
        model.loss(_static_batch(), betta=0.5)


def test_multimodal_vae_takes_its_scheduled_values():
    batch = _static_batch()
    for objective in (None, MeanFieldELBO()):
        model = _mmvae(objective)
        state = torch.get_rng_state()
        total, _ = model.loss(batch, beta=0.5)
        torch.set_rng_state(state)
        full, _ = model.loss(batch, beta=1.0)
        assert torch.isfinite(total) and not torch.allclose(total, full)  # beta is used


def test_mmgpvae_refuses_any_scheduled_value():
    model = _mmgpvae()
    for name in ("betta", "beta"):
        with pytest.raises(
            TypeError, match=rf"MMGPVAE got unknown scheduled values \['{name}'\]; it accepts \[\]"
        ):
            model.loss(_sequence_batch(), **{name: 0.5})
    total, _ = model.loss(_sequence_batch())
    assert torch.isfinite(total)

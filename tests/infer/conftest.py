"""A tiny stochastic model and data for the fit-loop tests."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.base import GenerativeModel
from pyrodyn.nn.decoders import LinearDecoder


class ToyVAE(GenerativeModel):
    """i.i.d. per-step VAE: z ~ N(0, I), x ~ N(W z + b, s); q(z | x) linear. Records the
    scheduled keywords it receives and can return NaN on demand."""

    def __init__(self, num_features: int = 2, latent_dim: int = 2) -> None:
        super().__init__({"x": Gaussian(num_features)})
        self.latent_dim = latent_dim
        self.decoder = LinearDecoder(latent_dim, self.likelihoods["x"])
        self.enc = nn.Linear(num_features, 2 * latent_dim)
        self.seen: list[dict] = []
        self.nan_at: set[int] = set()
        self.calls = 0

    def model(self, batch, beta: float = 1.0, **_):
        with self.plate(batch):
            loc = batch.obs["x"].new_zeros(batch.num_sequences, batch.num_steps, self.latent_dim)
            with pyro.poutine.scale(scale=beta):
                z = pyro.sample("z", dist.Normal(loc, 1.0).to_event(2))
            self.observe(batch, {"x": self.decoder(z)})

    def guide(self, batch, beta: float = 1.0, **_):
        h = self.enc(batch.obs["x"])
        loc, raw = h.chunk(2, -1)
        with self.plate(batch), pyro.poutine.scale(scale=beta):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(2))

    def encode(self, batch):
        return {"latent": self.enc(batch.obs["x"]).chunk(2, -1)[0]}

    def loss(self, batch, **scheduled):
        self.seen.append(dict(scheduled))
        self.calls += 1
        total, terms = super().loss(batch, **scheduled)
        if self.calls in self.nan_at:
            total = total * float("nan")
            terms = {**terms, "nll.x": terms["nll.x"] * float("nan")}
        return total, terms


class FaultyVAE(ToyVAE):
    """:class:`ToyVAE` that misbehaves once at chosen step indices.

    Pass the step index as a schedule (``schedules={"at": float}``); ``faults`` maps an index
    to ``"nan"`` (a NaN term) or ``"raise"`` (torch's distribution validation rejecting a
    parameter, as after a huge step). Each fault fires once per model object, or at every
    attempt with ``recurring=True``.
    """

    def __init__(self, faults: dict[int, str] | None = None, recurring: bool = False) -> None:
        super().__init__()
        self.faults, self.recurring = dict(faults or {}), recurring

    def loss(self, batch, at: float = -1.0, **scheduled):
        get = self.faults.get if self.recurring else self.faults.pop
        kind = get(int(at), None)
        if kind == "raise":
            dist.Normal(torch.zeros(()), -torch.ones(()), validate_args=True)
        total, terms = super().loss(batch, **scheduled)
        if kind == "nan":
            total = total * float("nan")
            terms = {**terms, "nll.x": terms["nll.x"] * float("nan")}
        return total, terms


def make_data(trials: int = 8, steps: int = 30, seed: int = 0) -> MultimodalDataset:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(trials, steps, 1, generator=g)
    x = torch.cat([z, -z], -1) * 2.0 + 1.0 + 0.1 * torch.randn(trials, steps, 2, generator=g)
    return MultimodalDataset({"x": x.numpy()})


@pytest.fixture
def toy_data() -> MultimodalDataset:
    return make_data()


@pytest.fixture
def toy_model() -> ToyVAE:
    return ToyVAE()

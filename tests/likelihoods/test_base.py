"""Every likelihood against the data contract: NaN-marked data from `MultimodalBatch`."""

import math

import pyro
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods import (
    Bernoulli,
    Categorical,
    Gaussian,
    Laplace,
    Likelihood,
    NegativeBinomial,
    Ordinal,
    Poisson,
    ZeroInflatedPoisson,
)
from pyrodyn.nn.decoders import MLPDecoder

B, T = 2, 5
NAN = math.nan


def cases():
    g = torch.Generator().manual_seed(0)
    counts = torch.poisson(torch.full((B, T, 3), 2.0), generator=g)
    onehot = torch.nn.functional.one_hot(torch.randint(0, 4, (B, T), generator=g), 4).float()
    return [
        (Gaussian(3), torch.randn(B, T, 3, generator=g)),
        (Laplace(3), torch.randn(B, T, 3, generator=g)),
        (Poisson(3), counts),
        (NegativeBinomial(3), counts),
        (ZeroInflatedPoisson(3), counts),
        (Bernoulli(3), (torch.rand(B, T, 3, generator=g) > 0.5).float()),
        (Categorical(4, num_channels=3), torch.randint(0, 4, (B, T, 3), generator=g).float()),
        (Categorical(4, one_hot=True, reference_class=True), onehot),
        (Ordinal(3, 7), torch.randint(1, 8, (B, T, 3), generator=g).float()),
    ]


@pytest.mark.parametrize(("lik", "x"), cases(), ids=lambda v: type(v).__name__)
def test_nan_marked_data_scores_like_dropping_the_entries(lik, x):
    raw = x.clone()
    raw[0, 1] = NAN  # a whole missing step
    raw[1, 2, 0] = NAN  # one missing entry (for one-hot: the whole vector counts as missing)
    batch = MultimodalBatch.from_tensors({"m": raw})
    obs, mask = batch.obs["m"], batch.mask["m"]
    lik.modality = "m"
    lik.validate(obs, mask)  # the 0 filled in for ordinal codes is not an error: it is masked
    dec = MLPDecoder(2, lik, hidden=(8,))
    params = dec(torch.randn(B, T, 2))
    lp = lik.log_prob(params, obs, mask)
    assert lp.shape == (B, T)
    assert torch.isfinite(lp).all()
    assert lp[0, 1] == 0
    # equal to scoring the complete data and dropping the missing elements
    d = lik.distribution(params)
    full = d.log_prob(x)
    keep = lik.reduce_mask(mask, len(d.batch_shape))
    expected = torch.where(keep, full, torch.zeros_like(full)).reshape(B, T, -1).sum(-1)
    torch.testing.assert_close(lp, expected)
    (-lp.sum()).backward()
    for name, p in [*dec.named_parameters(), *lik.named_parameters()]:
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    # the observe site inside a plate
    with pyro.plate("sequences", B, dim=-1):
        tr = pyro.poutine.trace(lik).get_trace(params, obs, mask)
    tr.compute_log_prob()
    (site,) = [s for s in tr.nodes.values() if s["type"] == "sample"]
    torch.testing.assert_close(site["log_prob_sum"], lp.sum())


def test_every_family_is_exported_and_a_likelihood():
    import pyrodyn.likelihoods as pkg

    names = set(pkg.__all__) - {"Likelihood"}
    assert names == {type(lik).__name__ for lik, _ in cases()}
    assert all(issubclass(getattr(pkg, n), Likelihood) for n in names)


def test_placeholders_lie_in_the_support():
    for lik, _ in cases():
        value = torch.full((1, *lik.feature_shape), lik.placeholder)
        if isinstance(lik, Categorical) and lik.one_hot:
            value = lik.fill(value, torch.zeros_like(value, dtype=torch.bool))
        assert bool(lik.check_support(value).all()), type(lik).__name__

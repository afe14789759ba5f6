import pyro.distributions as dist
import pytest
import torch

from pyrodyn.nn.encoders.ct_transformer import (
    ContinuousTimeTransformer,
    aggregate_tokens,
    check_times,
)
from pyrodyn.testing.encoder import EncoderConformance


class TestConformance(EncoderConformance):
    def make_encoder(self):
        return ContinuousTimeTransformer(5, 3, model_dim=16, num_layers=2, window=2.0)

    def make_input(self, batch_size):
        x = torch.randn(batch_size, 7, 5)
        mask = torch.ones_like(x, dtype=torch.bool)
        mask[0, 3] = False
        return x, mask


def test_per_token_shapes_and_times(device):
    enc = ContinuousTimeTransformer(4, 3, model_dim=16, num_layers=3, window=0.3).to(device)
    x = torch.randn(2, 6, 4, device=device)
    t = torch.rand(2, 6, device=device).cumsum(-1)
    q = enc(x, None, t)
    assert q.loc.shape == (2, 6, 3)
    assert bool((q.scale > 0).all())


def test_context_restriction_equals_a_context_only_run():
    enc = ContinuousTimeTransformer(4, 3, model_dim=16, num_layers=3, window=1.5).eval()
    x = torch.randn(2, 9, 4)
    t = torch.arange(9.0).expand(2, 9) * 0.5
    full = enc(x, None, t, context=4)
    alone = enc(x[:, :4], None, t[:, :4])
    torch.testing.assert_close(full.loc[:, :4], alone.loc)
    torch.testing.assert_close(full.scale[:, :4], alone.scale)
    # without the restriction, context tokens see the future
    assert not torch.allclose(enc(x, None, t).loc[:, :4], alone.loc)


def test_temporal_window_layer_ignores_far_tokens():
    enc = ContinuousTimeTransformer(2, 2, model_dim=8, num_layers=1, window=0.5).eval()
    x = torch.randn(1, 4, 2)
    t = torch.tensor([[0.0, 0.2, 5.0, 9.0]])
    ref = enc(x, None, t).loc
    x2 = x.clone()
    x2[0, 3] += 10.0  # token 3 is outside token 0's window
    torch.testing.assert_close(enc(x2, None, t).loc[0, :2], ref[0, :2])


def test_missing_steps_are_not_keys():
    enc = ContinuousTimeTransformer(3, 2, model_dim=8, num_layers=2, window=10.0).eval()
    x = torch.randn(1, 5, 3)
    mask = torch.ones(1, 5, dtype=torch.bool)
    mask[0, 2] = False
    ref = enc(x, mask).loc
    x2 = x.clone()
    x2[0, 2] = 100.0
    out = enc(x2, mask).loc
    keep = [0, 1, 3, 4]
    torch.testing.assert_close(out[0, keep], ref[0, keep])


def test_aggregation_law_matches_mean_of_token_samples():
    """psi = mean_k (gamma_k + sigma_k eps_k) has the law N(mean gamma, sqrt(sum sigma^2)/C)."""
    torch.manual_seed(1)
    loc = torch.randn(2, 6, 3)
    scale = torch.rand(2, 6, 3) + 0.2
    valid = torch.ones(2, 6, dtype=torch.bool)
    valid[1, 4:] = False  # row 1 averages 4 tokens
    q = aggregate_tokens(dist.Normal(loc, scale), valid)
    n = 200_000
    eps = torch.randn(n, 2, 6, 3)
    w = valid.float()[..., None]
    samples = ((loc + scale * eps) * w).sum(-2) / w.sum(-2)
    torch.testing.assert_close(samples.mean(0), q.loc, atol=0.01, rtol=0)
    torch.testing.assert_close(samples.std(0), q.scale, atol=0.01, rtol=0.01)
    torch.testing.assert_close(q.loc[1], loc[1, :4].mean(0))
    torch.testing.assert_close(q.scale[0], (scale[0] ** 2).sum(0).sqrt() / 6)
    with pytest.raises(ValueError, match="no observed context token"):
        aggregate_tokens(dist.Normal(loc, scale), torch.zeros(2, 6, dtype=torch.bool))


def test_bad_times_are_loud():
    enc = ContinuousTimeTransformer(3, 2, model_dim=8, num_layers=1)
    x = torch.randn(1, 4, 3)
    with pytest.raises(ValueError, match="duplicate time stamps 1 then 1"):
        enc(x, None, torch.tensor([[0.0, 1.0, 1.0, 2.0]]))
    with pytest.raises(ValueError, match="unsorted time stamps 2 then 1"):
        enc(x, None, torch.tensor([[0.0, 2.0, 1.0, 3.0]]))
    with pytest.raises(ValueError, match=r"expects \(batch, time, \(3,\)\)"):
        enc(torch.randn(1, 4, 5))
    # padding beyond the valid steps is not checked
    check_times(torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[True, True, False]]))

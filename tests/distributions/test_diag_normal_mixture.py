import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from pyrodyn.distributions.diag_normal_mixture import DiagNormalMixture


def _mix(batch=(2,), k=3, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    locs = torch.randn(*batch, k, d, generator=g, dtype=torch.float64)
    scales = 0.5 + torch.rand(*batch, k, d, generator=g, dtype=torch.float64)
    logits = torch.randn(*batch, k, generator=g, dtype=torch.float64)
    return DiagNormalMixture(locs, scales, logits)


def test_log_prob_matches_scipy():
    mix = _mix()
    z = torch.randn(4, 2, 2, dtype=torch.float64)
    lp = mix.log_prob(z)
    assert lp.shape == (4, 2)
    w = mix.weights.numpy()
    for s in range(4):
        for b in range(2):
            dens = sum(
                w[b, k]
                * multivariate_normal(
                    mix.locs[b, k].numpy(), np.diag(mix.scales[b, k].numpy() ** 2)
                ).pdf(z[s, b].numpy())
                for k in range(3)
            )
            assert lp[s, b].item() == pytest.approx(np.log(dens), rel=1e-10)


def test_masked_component_has_no_weight():
    mix = _mix()
    logits = mix.logits.clone()
    logits[:, 1] = float("-inf")
    masked = DiagNormalMixture(mix.locs, mix.scales, logits)
    assert masked.weights[:, 1].abs().max() == 0
    # moving the masked component changes nothing
    locs = mix.locs.clone()
    locs[:, 1] += 100.0
    moved = DiagNormalMixture(locs, mix.scales, logits)
    z = torch.randn(3, 2, 2, dtype=torch.float64)
    torch.testing.assert_close(masked.log_prob(z), moved.log_prob(z))
    torch.testing.assert_close(masked.mean, moved.mean)


def test_rsample_moments_and_gradients():
    torch.manual_seed(0)
    mix = _mix(batch=(), k=2, d=1)
    locs = mix.locs.clone().requires_grad_()
    m = DiagNormalMixture(locs, mix.scales, mix.logits)
    z = m.rsample((40000,))
    assert z.shape == (40000, 1)
    assert z.mean().item() == pytest.approx(m.mean.item(), abs=0.03)
    assert z.var().item() == pytest.approx(m.variance.item(), rel=0.05)
    z.mean().backward()
    torch.testing.assert_close(locs.grad.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_moment_matched_and_expand():
    mix = _mix()
    mm = mix.moment_matched()
    torch.testing.assert_close(mm.loc, mix.mean)
    big = mix.expand(torch.Size([5, 2]))
    assert big.batch_shape == (5, 2) and big.event_shape == (2,)


def test_bad_inputs_raise():
    mix = _mix()
    with pytest.raises(ValueError, match="at least one component"):
        DiagNormalMixture(mix.locs, mix.scales, torch.full_like(mix.logits, float("-inf")))
    with pytest.raises(ValueError, match="disagree"):
        DiagNormalMixture(mix.locs, mix.scales, mix.logits[..., :2])
    with pytest.raises(ValueError, match="unknown kl_estimator"):
        DiagNormalMixture(mix.locs, mix.scales, mix.logits, kl_estimator="exact")
    with pytest.raises(ValueError, match="locs must be"):
        DiagNormalMixture(torch.zeros(3), torch.ones(3), torch.zeros(3))


def test_leading_sample_dims_broadcast():
    mix = _mix(batch=(2,))
    wide = mix.expand((5, 2))
    assert wide.batch_shape == (5, 2)
    z = wide.rsample()
    assert z.shape == (5, 2, 2)
    torch.testing.assert_close(wide.log_prob(z), mix.log_prob(z))
    assert mix.rsample((3, 5)).shape == (3, 5, 2, 2)
    torch.testing.assert_close(wide.mean, mix.mean.expand(5, 2, 2))


def test_uniform_mixture_over_available_components():
    from pyrodyn.distributions.diag_normal_mixture import uniform_mixture

    locs, scales = torch.randn(2, 3, 4), torch.ones(2, 3, 4)
    available = torch.tensor([[True, False, True], [False, False, False]])
    mix = uniform_mixture(locs, scales, available)
    torch.testing.assert_close(mix.weights[0], torch.tensor([0.5, 0.0, 0.5]))
    # a row without any component is N(0, I)
    torch.testing.assert_close(mix.mean[1], torch.zeros(4))
    torch.testing.assert_close(mix.variance[1], torch.ones(4))


def test_rsample_is_the_documented_two_stage_draw():
    """Under a fixed seed a draw is ``mu_k + sigma_k * eps``: the component ``k`` by weight, then
    standard normal noise, in that order from the global generator (reproducible runs)."""
    mix = _mix(batch=(2,), k=3, d=2, seed=4)
    torch.manual_seed(5)
    z = mix.rsample((6,))
    torch.manual_seed(5)
    k = torch.multinomial(mix.weights, 6, replacement=True).T  # (6, 2)
    eps = torch.randn(6, 2, 2, dtype=torch.float64)
    rows = torch.arange(2)
    want = mix.locs[rows, k] + mix.scales[rows, k] * eps
    torch.testing.assert_close(z, want, rtol=1e-12, atol=0)


def test_expand_keeps_the_kl_estimator_and_does_not_recheck_parameters():
    from pyrodyn.distributions.mixture_kl import kl_pairwise

    mix = _mix(batch=(2,))
    mix = DiagNormalMixture(mix.locs, mix.scales, mix.logits, kl_estimator="pairwise")
    g = torch.Generator().manual_seed(6)
    q_loc = torch.randn(5, 2, 2, generator=g, dtype=torch.float64)
    q = torch.distributions.Independent(torch.distributions.Normal(q_loc, 0.7), 1)
    kl = torch.distributions.kl_divergence(q, mix.expand((5, 2)))
    torch.testing.assert_close(kl, kl_pairwise(q_loc, torch.full_like(q_loc, 0.7), mix))
    # an unvalidated mixture (here with a negative scale) is expanded as is
    loose = DiagNormalMixture(mix.locs, -mix.scales, mix.logits, validate_args=False)
    assert loose.expand((5, 2)).batch_shape == (5, 2)


@pytest.mark.parametrize("validate", [True, False])
def test_expand_keeps_the_value_checks(validate):
    mix = _mix(batch=(2,))
    mix = DiagNormalMixture(mix.locs, mix.scales, mix.logits, validate_args=validate)
    big = mix.expand((5, 2))
    assert big._validate_args is validate
    bad = torch.full((5, 2, 2), float("nan"), dtype=torch.float64)
    if validate:
        for method in (big.log_prob, big.component_log_prob):
            with pytest.raises(ValueError, match="to be within the support"):
                method(bad)
    else:
        assert torch.isnan(big.log_prob(bad)).all()
        assert torch.isnan(big.component_log_prob(bad)).all()


def test_uniform_mixture_in_one_dimension_with_a_kl_estimator():
    from pyrodyn.distributions.diag_normal_mixture import uniform_mixture
    from pyrodyn.distributions.mixture_kl import kl_lse

    locs = torch.tensor([[[0.0], [2.0]]], dtype=torch.float64)  # (1, K=2, D=1)
    scales = torch.ones(1, 2, 1, dtype=torch.float64)
    mix = uniform_mixture(locs, scales, torch.tensor([[True, True]]), kl_estimator="lse")
    torch.testing.assert_close(mix.mean, torch.tensor([[1.0]], dtype=torch.float64))
    q = torch.distributions.Independent(torch.distributions.Normal(locs[:, 0], 0.5), 1)
    kl = torch.distributions.kl_divergence(q, mix)
    torch.testing.assert_close(kl, kl_lse(locs[:, 0], torch.full((1, 1), 0.5), mix))


@pytest.mark.parametrize("batched", ["locs", "scales", "logits"])
def test_any_parameter_may_carry_the_batch(batched):
    full = _mix(batch=(2,), seed=7)
    args = {"locs": full.locs[0], "scales": full.scales[0], "logits": full.logits[0]}
    args[batched] = getattr(full, batched)
    mix = DiagNormalMixture(**args)
    assert mix.batch_shape == (2,) and mix.event_shape == (2,)
    z = torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    lp = mix.log_prob(z)
    for b in range(2):
        p = {k: (v[b] if k == batched else v) for k, v in args.items()}
        w = torch.softmax(p["logits"], -1).numpy()
        dens = sum(
            w[k]
            * multivariate_normal(p["locs"][k].numpy(), np.diag(p["scales"][k].numpy() ** 2)).pdf(
                z[b].numpy()
            )
            for k in range(3)
        )
        assert lp[b].item() == pytest.approx(np.log(dens), rel=1e-10)


def test_every_row_of_a_batch_needs_a_component():
    locs, scales = torch.zeros(2, 2, 1), torch.ones(2, 2, 1)
    logits = torch.tensor([[0.0, 0.0], [float("-inf"), float("-inf")]])
    with pytest.raises(ValueError, match="at least one component"):
        DiagNormalMixture(locs, scales, logits)


def test_standard_normal_where_absent_keeps_nan_out_of_values_and_gradients():
    from pyrodyn.distributions.diag_normal_mixture import standard_normal_where_absent

    loc = torch.tensor([[1.0, 2.0], [float("nan"), float("nan")]], requires_grad=True)
    scale = torch.tensor([0.5, 3.0])  # broadcast over the rows, as a shared scale
    available = torch.tensor([True, False])
    new_loc, new_scale = standard_normal_where_absent(loc, scale, available)
    torch.testing.assert_close(new_loc, torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
    torch.testing.assert_close(new_scale, torch.tensor([[0.5, 3.0], [1.0, 1.0]]))
    torch.distributions.Normal(new_loc, new_scale).log_prob(torch.zeros(2, 2)).sum().backward()
    assert torch.isfinite(loc.grad).all() and bool((loc.grad[1] == 0).all())

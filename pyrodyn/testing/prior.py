"""Conformance kit for `LatentPrior` implementations (subclass in a test file).

A test class implements :meth:`PriorConformance.make_prior` and inherits checks of the site
shapes inside a sequence plate, sampling shapes, ``log_prob`` against the prior's own samples,
masking of padded steps, device placement and module-local parameters. The ``--device`` option of
pytest (``cpu`` by default) picks the device.
"""

from __future__ import annotations

import pyro
import pyro.poutine as poutine
import pytest
import torch

from pyrodyn.models.params import local_params
from pyrodyn.priors.base import LatentPrior, PriorContext


class PriorConformance:
    """Mixin of pytest checks every `LatentPrior` passes.

    The log-density check uses Stein's identity ``E_p[z_j d/dz_j log p(z)] = -1`` and
    ``E_p[d/dz_j log p(z)] = 0`` for every coordinate of the site, on ``num_draws`` draws of the
    prior's own sampler: a ``log_prob`` that does not match the sampler (a wrong scale, a missing
    transition term) fails it. It needs a site with continuous values and a density that is
    differentiable in them; priors without one set ``check_stein = False``.
    """

    batch_size: int = 3
    num_steps: int = 6
    num_draws: int = 4000
    check_stein: bool = True
    stein_tolerance: float = 0.1

    def make_prior(self) -> LatentPrior:
        """The prior under test."""
        raise NotImplementedError("implement make_prior() in the test class")

    def make_context(
        self, device: torch.device, lengths: torch.Tensor | None = None
    ) -> PriorContext:
        """The context the checks use (override for priors that need inputs)."""
        b, t = self.batch_size, self.num_steps
        times = torch.arange(t, dtype=torch.get_default_dtype(), device=device).expand(b, t)
        return PriorContext(
            num_sequences=b,
            num_steps=t,
            times=times,
            lengths=lengths,
            like=torch.zeros((), device=device),
        )

    @pytest.fixture
    def prior_device(self, request: pytest.FixtureRequest) -> torch.device:
        """The device of ``--device`` (skips when CUDA is asked for but absent)."""
        name = request.config.getoption("--device", default="cpu")
        if str(name).startswith("cuda") and not torch.cuda.is_available():
            pytest.skip("--device cuda requested but CUDA is not available")
        return torch.device(name)

    def _prior(self, device: torch.device) -> LatentPrior:
        return self.make_prior().to(device)

    def test_site_shapes(self, prior_device: torch.device) -> None:
        prior, ctx = self._prior(prior_device), self.make_context(prior_device)
        with poutine.trace() as tr, pyro.plate("sequences", ctx.num_sequences, dim=-1):
            latent = prior(ctx)
        assert latent.shape == (ctx.num_sequences, ctx.num_steps, prior.latent_dim)
        site = tr.trace.nodes[prior.site_name]
        assert site["fn"].batch_shape == (ctx.num_sequences,)
        assert site["value"].shape[0] == ctx.num_sequences
        lp = prior.log_prob(site["value"], ctx)
        assert lp.shape == (ctx.num_sequences,)
        assert torch.isfinite(lp).all()

    def test_sample_shapes(self, prior_device: torch.device) -> None:
        prior, ctx = self._prior(prior_device), self.make_context(prior_device)
        z = prior.sample(ctx, torch.Size([4]))
        assert z.shape == (4, ctx.num_sequences, ctx.num_steps, prior.latent_dim)
        value = prior.distribution(ctx).sample(torch.Size([4]))
        assert prior.log_prob(value, ctx).shape == (4, ctx.num_sequences)

    def test_log_prob_matches_samples(self, prior_device: torch.device) -> None:
        if not self.check_stein:
            pytest.skip("this prior opts out of the Stein check")
        prior, ctx = self._prior(prior_device), self.make_context(prior_device)
        with torch.no_grad():
            z = prior.distribution(ctx).sample(torch.Size([self.num_draws]))
        z = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(prior.log_prob(z, ctx).sum(), z)
        n = self.num_draws
        zg = (z * grad).detach().reshape(n, -1)
        g = grad.detach().reshape(n, -1)
        # the mean over coordinates is tight; single coordinates get a few standard errors
        assert abs(zg.mean().item() + 1.0) < self.stein_tolerance, zg.mean().item()
        se = zg.std(0) / n**0.5
        assert ((zg.mean(0) + 1.0).abs() < 5 * se + self.stein_tolerance).all()
        se_g = g.std(0) / n**0.5
        assert (g.mean(0).abs() < 5 * se_g + 1e-6).all()

    def test_padding_is_ignored(self, prior_device: torch.device) -> None:
        b, t = self.batch_size, self.num_steps
        lengths = torch.tensor([t, max(t - 2, 1), 1][:b] + [t] * max(b - 3, 0))
        lengths = lengths.to(prior_device)
        prior = self._prior(prior_device)
        ctx = self.make_context(prior_device, lengths=lengths)
        value = prior.distribution(ctx).sample()
        if value.shape[1] != t:
            pytest.skip("site is not in the time domain; padding is handled by to_latent")
        changed = value.clone()
        pad = torch.arange(t, device=prior_device)[None, :] >= lengths[:, None]
        changed[pad] = changed[pad] + 100.0
        torch.testing.assert_close(prior.log_prob(value, ctx), prior.log_prob(changed, ctx))

    def test_device_and_local_params(self, prior_device: torch.device) -> None:
        prior, ctx = self._prior(prior_device), self.make_context(prior_device)
        pyro.clear_param_store()
        with local_params(prior), pyro.plate("sequences", ctx.num_sequences, dim=-1):
            latent = prior(ctx)
        assert latent.device.type == prior_device.type
        for p in prior.parameters():
            assert p.device.type == prior_device.type
        assert len(pyro.get_param_store()) == 0, "prior parameters leaked into the param store"

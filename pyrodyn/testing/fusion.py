"""Conformance kit for `Fusion` implementations (subclass in a test file)."""

from __future__ import annotations

import pyro.distributions as dist
import pytest
import torch

from pyrodyn.nn.fusion.base import SHARED, Fusion


class FusionConformance:
    """Mixin of pytest checks every `Fusion` passes.

    A concrete test class implements :meth:`make_fusion` and inherits checks of: shapes of the
    fused posterior, site distributions (batch ``(B, [T])``, event ``(D,)``) and regulariser,
    static and per-step inputs; masking (a missing modality's posterior has no influence on
    anything the fusion returns); the posterior from a single available modality; reparameterised
    gradients; and loud errors for mismatched latent sizes, rows without any modality and
    missing availability masks.
    """

    modalities: tuple[str, ...] = ("a", "b", "c")
    latent_dim: int = 3

    def make_fusion(self) -> Fusion:
        """The fusion under test."""
        raise NotImplementedError("implement make_fusion() in the test class")

    # ------------------------------------------------------------------ inputs
    def posteriors(self, lead: tuple[int, ...] = (4,), seed: int = 0) -> dict[str, dist.Normal]:
        g = torch.Generator().manual_seed(seed)
        shape = (*lead, self.latent_dim)
        return {
            m: dist.Normal(
                torch.randn(shape, generator=g).requires_grad_(),
                (0.3 + torch.rand(shape, generator=g)).requires_grad_(),
            )
            for m in self.modalities
        }

    def present(self, lead: tuple[int, ...] = (4,)) -> dict[str, torch.Tensor]:
        out = {m: torch.ones(lead, dtype=torch.bool) for m in self.modalities}
        out[self.modalities[-1]][..., 0] = False  # the last modality is missing in row/step 0
        return out

    # ------------------------------------------------------------------ shapes
    @pytest.mark.parametrize("lead", [(4,), (2, 5)])
    def test_shapes(self, lead: tuple[int, ...]) -> None:
        fusion = self.make_fusion()
        post, pres = self.posteriors(lead), self.present(lead)
        fused = fusion(post, pres)
        assert isinstance(fused, dist.Normal)
        assert tuple(fused.loc.shape) == (*lead, self.latent_dim)
        assert bool((fused.scale > 0).all()) and bool(torch.isfinite(fused.loc).all())
        keys = fusion.site_keys(list(self.modalities))
        guides = fusion.guide_distributions(post, pres)
        priors = fusion.prior_distributions(post, pres)
        assert sorted(guides) == sorted(keys) == sorted(priors)
        for k in keys:
            for d in (guides[k], priors[k]):
                assert tuple(d.batch_shape) == lead
                assert tuple(d.event_shape) == (self.latent_dim,)
            z = guides[k].rsample()
            assert tuple(z.shape) == (*lead, self.latent_dim)
            assert tuple(priors[k].log_prob(z).shape) == lead
            assert bool(torch.isfinite(guides[k].log_prob(z)).all())
        reg = fusion.regularizer(post, pres)
        if reg is not None:
            assert tuple(reg.shape) == lead
            assert bool(torch.isfinite(reg).all())
        site_present = fusion.site_present(post, pres)
        assert sorted(site_present) == sorted(keys)

    def test_decoder_input(self) -> None:
        fusion = self.make_fusion()
        latents = {
            k: torch.full((2, self.latent_dim), float(i))
            for i, k in enumerate([SHARED, *self.modalities])
        }
        for m in self.modalities:
            z = fusion.decoder_input(m, latents)
            want = latents[m] if fusion.per_modality_latents else latents[SHARED]
            assert z is want

    # ------------------------------------------------------------------ masking
    def test_missing_modality_contributes_nothing(self) -> None:
        fusion = self.make_fusion()
        post, pres = self.posteriors(), self.present()
        other = self.posteriors(seed=1)
        gone = self.modalities[-1]
        post2 = dict(post)
        post2[gone] = other[gone]  # only row 0 of `gone` is missing: change it everywhere
        f1, f2 = fusion(post, pres), fusion(post2, pres)
        torch.testing.assert_close(f1.loc[0], f2.loc[0])
        torch.testing.assert_close(f1.scale[0], f2.scale[0])
        g1 = fusion.guide_distributions(post, pres)
        g2 = fusion.guide_distributions(post2, pres)
        p1 = fusion.prior_distributions(post, pres)
        p2 = fusion.prior_distributions(post2, pres)
        z = torch.randn(4, self.latent_dim)
        for k in g1:
            if k == gone:
                continue
            torch.testing.assert_close(g1[k].log_prob(z)[0], g2[k].log_prob(z)[0])
            torch.testing.assert_close(p1[k].log_prob(z)[0], p2[k].log_prob(z)[0])
        # Monte-Carlo regularisers draw samples: use the same draws for both inputs
        torch.manual_seed(0)
        r1 = fusion.regularizer(post, pres)
        torch.manual_seed(0)
        r2 = fusion.regularizer(post2, pres)
        if r1 is not None:
            torch.testing.assert_close(r1[0], r2[0])

    def test_missing_expert_values_never_reach_the_output(self) -> None:
        """A missing modality's posterior may hold anything (NaN from an encoder fed NaN)."""
        fusion = self.make_fusion()
        post, pres = self.posteriors(), self.present()
        gone = self.modalities[-1]
        nan = torch.full_like(post[gone].loc, float("nan"))
        nan[1:] = post[gone].loc.detach()[1:]  # NaN only in row 0, where `gone` is missing
        post2 = dict(post)
        post2[gone] = dist.Normal(nan, nan.abs().clamp_min(0.5), validate_args=False)
        f1, f2 = fusion(post, pres), fusion(post2, pres)
        torch.testing.assert_close(f1.loc[0], f2.loc[0])
        torch.testing.assert_close(f1.scale[0], f2.scale[0])
        torch.manual_seed(0)
        reg = fusion.regularizer(post2, pres)
        loss = f2.loc[0].sum() + f2.scale[0].sum() + (0 if reg is None else reg[0])
        loss.backward()
        for m in self.modalities[:-1]:
            assert torch.isfinite(post[m].loc.grad).all(), m

    def test_single_modality_posterior_is_that_expert(self) -> None:
        fusion = self.make_fusion()
        post = self.posteriors()
        only = self.modalities[0]
        pres = {m: torch.full((4,), m == only) for m in self.modalities}
        fused = fusion.posterior(post, pres)
        if getattr(fusion, "prior_expert", False):
            pytest.skip("a prior expert shrinks the single-expert posterior by design")
        torch.testing.assert_close(fused.loc, post[only].loc)
        torch.testing.assert_close(fused.scale, post[only].scale)

    def test_steps_without_any_modality_fall_back_to_standard_normal(self) -> None:
        fusion = self.make_fusion()
        post = self.posteriors((2, 3))
        pres = {m: torch.ones(2, 3, dtype=torch.bool) for m in self.modalities}
        for m in self.modalities:
            pres[m][0, 1] = False
        fused = fusion(post, pres)
        if getattr(fusion, "prior_expert", False):
            pytest.skip("a prior expert defines the empty product itself")
        torch.testing.assert_close(fused.loc[0, 1], torch.zeros(self.latent_dim))
        torch.testing.assert_close(fused.scale[0, 1], torch.ones(self.latent_dim))

    def test_gradients_reach_every_available_expert(self) -> None:
        fusion = self.make_fusion()
        post = self.posteriors()
        pres = {m: torch.ones(4, dtype=torch.bool) for m in self.modalities}
        loss = sum(g.rsample().sum() for g in fusion.guide_distributions(post, pres).values())
        reg = fusion.regularizer(post, pres)
        if reg is not None:
            loss = loss + reg.sum()
        loss = loss + fusion(post, pres).loc.sum()
        loss.backward()
        for m, q in post.items():
            assert q.loc.grad is not None and bool(q.loc.grad.abs().sum() > 0), m

    # ------------------------------------------------------------------ errors
    def test_mismatched_latent_sizes_raise(self) -> None:
        fusion = self.make_fusion()
        post = self.posteriors()
        m = self.modalities[0]
        post[m] = dist.Normal(
            torch.zeros(4, self.latent_dim + 1), torch.ones(4, self.latent_dim + 1)
        )
        with pytest.raises(ValueError, match="equal latent sizes"):
            fusion(post, self.present())

    def test_row_without_any_modality_raises(self) -> None:
        fusion = self.make_fusion()
        if getattr(fusion, "prior_expert", False):
            pytest.skip("a prior expert defines the posterior of an empty row")
        pres = {m: torch.ones(4, dtype=torch.bool) for m in self.modalities}
        for m in self.modalities:
            pres[m][2] = False
        with pytest.raises(ValueError, match="every modality is missing"):
            fusion(self.posteriors(), pres)

    def test_missing_mask_raises(self) -> None:
        fusion = self.make_fusion()
        pres = self.present()
        del pres[self.modalities[0]]
        with pytest.raises(ValueError, match="no availability mask"):
            fusion(self.posteriors(), pres)

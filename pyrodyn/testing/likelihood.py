"""Conformance kit for `Likelihood` implementations (subclass in a test file).

Example::

    class TestMyLikelihood(LikelihoodConformance):
        def make_likelihood(self):
            return MyLikelihood(3)

        def make_params(self, batch_shape):
            return {"loc": torch.randn(*batch_shape, 3)}

        def reference_log_prob(self, lik, params, obs):
            return scipy.stats.norm.logpdf(obs, params["loc"], 1.0)

The kit's tests request a ``device`` fixture (pyrodyn's ``tests/conftest.py`` defines one with a
``--device`` option); outside pyrodyn, import :func:`device` from this module into a conftest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyro
import pyro.poutine as poutine
import pytest
import torch
from torch import Tensor

from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.nn.decoders import LinearDecoder


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    """Torch device from ``--device`` (default cpu); skips when CUDA is requested but absent."""
    name = request.config.getoption("--device", default="cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("--device cuda requested but CUDA is not available")
    return torch.device(name)


def _cast(params: Mapping[str, Tensor], **kw: Any) -> dict[str, Tensor]:
    return {k: v.to(**kw) for k, v in params.items()}


class LikelihoodConformance:
    """Mixin of pytest checks every `Likelihood` passes.

    A concrete test class (named ``Test*``) implements :meth:`make_likelihood`,
    :meth:`make_params` and :meth:`reference_log_prob`, and optionally :meth:`sample_obs`,
    :meth:`support_grid` (needed for count families and continuous families) and
    :meth:`invalid_values`. It inherits checks of: parameter and distribution shapes,
    log-probabilities against the reference (float64), normalisation over the support (a sum for
    discrete families, the trapezoid rule on :meth:`support_grid` for continuous ones), masked
    entries contributing exactly 0 (with NaN or out-of-support values under the mask, finite
    gradients and zero gradients for fully masked steps), the observe site inside a Pyro trace
    (event dims; masking one entry changes ``log_prob_sum`` by exactly its own term), validation
    errors naming the modality and the bad value, samples inside the support, device moves, and a
    :class:`~pyrodyn.nn.decoders.LinearDecoder` built from ``param_shapes``.

    Shapes: ``batch_shape`` is ``(sequences, time)``; observations are
    ``(*batch_shape, *feature_shape)``.
    """

    #: ``(sequences, time)`` of the test batches.
    batch_shape: tuple[int, ...] = (3, 4)
    #: Absolute tolerance of the normalisation check for continuous families.
    integration_atol: float = 1e-3
    #: Tolerances of the float64 comparison with the reference.
    ref_rtol: float = 1e-7
    ref_atol: float = 1e-8

    # ------------------------------------------------------------------ to implement
    def make_likelihood(self) -> Likelihood:
        """A fresh likelihood under test (learned constants may be set to non-default values)."""
        raise NotImplementedError("implement make_likelihood() in the test class")

    def make_params(self, batch_shape: tuple[int, ...]) -> dict[str, Tensor]:
        """Decoder outputs ``{name: (*batch_shape, *param_shapes[name])}`` (default dtype)."""
        raise NotImplementedError("implement make_params(batch_shape) in the test class")

    def reference_log_prob(
        self, lik: Likelihood, params: Mapping[str, np.ndarray], obs: np.ndarray
    ) -> np.ndarray:
        """Element-wise log-probabilities from an independent implementation (e.g. scipy).

        Args:
            lik: the (float64) likelihood, for its learned constants.
            params: decoder outputs as float64 arrays.
            obs: observations ``(*batch, *feature_shape)`` as a float64 array.

        Returns:
            Array of shape ``distribution.batch_shape`` (``(*batch, *feature_shape)`` for
            element-wise families; the last feature axis dropped for one-hot vectors).
        """
        raise NotImplementedError("implement reference_log_prob(lik, params, obs)")

    def sample_obs(self, lik: Likelihood, params: Mapping[str, Tensor]) -> Tensor:
        """Valid observations ``(*batch, *feature_shape)``; default: one draw of the model."""
        return lik.sample(params).to(next(iter(params.values())).dtype)

    def support_grid(self, lik: Likelihood, params: Mapping[str, Tensor]) -> Tensor:
        """Values ``(K, *event_shape)`` summed over (discrete) or integrated over (continuous).

        The default enumerates the support of discrete distributions that can; count and
        continuous families override it (a truncated range / a fine grid covering the mass).
        """
        d = lik.distribution(params)
        if not d.has_enumerate_support:
            raise NotImplementedError(
                f"{type(lik).__name__}: implement support_grid() (no enumerable support)"
            )
        values = d.enumerate_support(expand=False)
        return values.reshape(values.shape[0], *d.event_shape)

    def invalid_values(self) -> list[float]:
        """Observed values outside the support, each of which must raise ``ValueError``."""
        return []

    # ------------------------------------------------------------------ helpers
    def _setup(
        self, dtype: torch.dtype = torch.float32, device: torch.device | None = None
    ) -> tuple[Likelihood, dict[str, Tensor], Tensor]:
        lik = self.make_likelihood().to(dtype=dtype, device=device)
        lik.modality = "probe"
        params = _cast(self.make_params(self.batch_shape), dtype=dtype, device=device)
        obs = self.sample_obs(lik, params).to(dtype=dtype, device=device)
        return lik, params, obs

    def _element_mask(self, lik: Likelihood, params: Mapping[str, Tensor], mask: Tensor) -> Tensor:
        d = lik.distribution(params)
        return lik.reduce_mask(mask, len(d.batch_shape))

    # ------------------------------------------------------------------ shapes
    def test_param_shapes(self) -> None:
        lik = self.make_likelihood()
        shapes = lik.param_shapes
        assert isinstance(shapes, dict)
        assert shapes
        params = self.make_params(self.batch_shape)
        assert set(params) == set(shapes)
        for k, s in shapes.items():
            assert params[k].shape == (*self.batch_shape, *s), k

    def test_shapes(self) -> None:
        lik, params, obs = self._setup()
        full = (*self.batch_shape, *lik.feature_shape)
        d = lik.distribution(params)
        assert tuple(d.batch_shape) + tuple(d.event_shape) == full
        assert obs.shape == full
        assert d.log_prob(obs).shape == d.batch_shape
        assert lik.log_prob(params, obs).shape == self.batch_shape
        for kind in ("default", "mean", "mode", "sample"):
            out = lik.predict(params, kind)
            assert out.shape == full, kind
            assert torch.isfinite(out).all(), kind
        with pytest.raises(ValueError, match="unknown prediction kind"):
            lik.predict(params, "median")

    # ------------------------------------------------------------------ values
    def test_log_prob_matches_reference(self) -> None:
        lik, params, obs = self._setup(torch.float64)
        got = lik.distribution(params).log_prob(obs)
        with torch.no_grad():
            ref = self.reference_log_prob(
                lik,
                {k: v.detach().cpu().numpy() for k, v in params.items()},
                obs.detach().cpu().numpy(),
            )
        ref_t = torch.as_tensor(np.asarray(ref, dtype=np.float64))
        assert ref_t.shape == got.shape
        torch.testing.assert_close(got.detach(), ref_t, rtol=self.ref_rtol, atol=self.ref_atol)
        # the per-step sum over features
        expected = ref_t.reshape(*self.batch_shape, -1).sum(-1)
        torch.testing.assert_close(
            lik.log_prob(params, obs).detach(), expected, rtol=self.ref_rtol, atol=1e-6
        )

    def test_normalisation(self) -> None:
        lik, params, _ = self._setup(torch.float64)
        d = lik.distribution(params)
        grid = self.support_grid(lik, params).to(torch.float64)
        k = grid.shape[0]
        ev = len(d.event_shape)
        values = grid.reshape(k, *([1] * len(d.batch_shape)), *grid.shape[1:])
        values = values.expand(k, *d.batch_shape, *d.event_shape)
        lp = d.log_prob(values).detach()
        assert lp.shape == (k, *d.batch_shape)
        if d.support.is_discrete:
            total = torch.logsumexp(lp, 0).exp()
            torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-6)
        else:
            assert ev == 0, "continuous normalisation is checked for scalar events only"
            total = torch.trapezoid(lp.exp(), grid, dim=0)
            torch.testing.assert_close(
                total, torch.ones_like(total), rtol=0, atol=self.integration_atol
            )

    def test_mean_and_mode(self) -> None:
        lik, params, _ = self._setup(torch.float64)
        d = lik.distribution(params)
        mean = lik.mean(params)
        assert torch.isfinite(mean).all()
        if d.support.is_discrete and not d.event_shape:
            grid = self.support_grid(lik, params).to(torch.float64)
            values = grid.reshape(-1, *([1] * len(d.batch_shape))).expand(-1, *d.batch_shape)
            lp = d.log_prob(values).detach()
            mode = lik.mode(params)
            # the mode is a most probable value
            torch.testing.assert_close(
                d.log_prob(mode).detach(), lp.max(0).values, rtol=1e-9, atol=1e-9
            )

    def test_samples_in_support(self) -> None:
        lik, params, obs = self._setup()
        assert bool(lik.check_support(obs).all())
        lik.validate(obs)
        assert torch.isfinite(lik.log_prob(params, obs)).all()

    # ------------------------------------------------------------------ masking
    def test_masked_entries_contribute_zero(self) -> None:
        lik, params, obs = self._setup(torch.float64)
        params = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        gen = torch.Generator().manual_seed(1)
        mask = torch.rand(obs.shape, generator=gen) > 0.4
        mask[0, 1] = False  # one fully missing step: its parameters get exactly zero gradient
        mask[-1, -1] = True  # and one fully observed step
        elem = self._element_mask(lik, params, mask)
        ref = lik.distribution(params).log_prob(obs).detach()
        expected = torch.where(elem, ref, torch.zeros_like(ref))
        expected = expected.reshape(*self.batch_shape, -1).sum(-1)
        bad = obs.clone()
        bad[~mask] = math.nan  # whatever sits under the mask must not matter
        lp = lik.log_prob(params, bad, mask)
        assert torch.isfinite(lp).all()
        torch.testing.assert_close(lp.detach(), expected, rtol=1e-10, atol=1e-10)
        lp.sum().backward()
        for k, p in params.items():
            assert torch.isfinite(p.grad).all(), k
            assert bool((p.grad[0, 1] == 0).all()), k
        for name, p in lik.named_parameters():
            if p.requires_grad:
                assert p.grad is None or torch.isfinite(p.grad).all(), name
        # fully masked: exactly zero
        none = lik.log_prob(params, bad, torch.zeros_like(mask))
        assert bool((none == 0).all())

    def test_observe_site(self) -> None:
        lik, params, obs = self._setup(torch.float64)
        b = self.batch_shape[0]
        mask = torch.ones(obs.shape, dtype=torch.bool)

        def run(m: Tensor) -> Any:
            with pyro.plate("sequences", b, dim=-1):
                tr = poutine.trace(lik).get_trace(params, obs, m)
            tr.compute_log_prob()
            sites = [s for s in tr.nodes.values() if s["type"] == "sample"]
            assert len(sites) == 1
            return sites[0]

        site = run(mask)
        assert site["is_observed"]
        assert site["name"].endswith("obs")
        assert site["fn"].event_dim == 1 + len(lik.feature_shape)
        assert tuple(site["fn"].batch_shape) == (b,)
        torch.testing.assert_close(
            site["log_prob_sum"].detach(), lik.log_prob(params, obs).sum().detach()
        )
        # masking one element changes the total by exactly its own log-probability
        elem_lp = lik.distribution(params).log_prob(obs).detach()
        idx = (0,) * elem_lp.dim()
        m1 = mask.clone()
        m1[idx] = False
        site1 = run(m1)
        torch.testing.assert_close(
            (site["log_prob_sum"] - site1["log_prob_sum"]).detach(),
            elem_lp[idx],
            rtol=1e-9,
            atol=1e-9,
        )
        # static samples: only the feature dims are event dims
        p0 = {k: v[:, 0] for k, v in params.items()}
        with pyro.plate("sequences", b, dim=-1):
            tr = poutine.trace(lik).get_trace(
                p0, obs[:, 0], None, event_dims=len(lik.feature_shape)
            )
        fn = next(s["fn"] for s in tr.nodes.values() if s["type"] == "sample")
        assert fn.event_dim == len(lik.feature_shape)
        # without observations the site samples valid values
        with pyro.plate("sequences", b, dim=-1):
            draw = lik(params)
        assert draw.shape == obs.shape
        assert bool(lik.check_support(draw).all())

    # ------------------------------------------------------------------ validation
    def test_validation_names_modality_and_value(self) -> None:
        lik, _, obs = self._setup()
        lik.validate(obs, torch.ones(obs.shape, dtype=torch.bool))
        idx = (0,) * obs.dim()
        for value in self.invalid_values():
            bad = obs.clone()
            bad[idx] = value
            assert not bool(lik.check_support(bad).all()), value
            with pytest.raises(ValueError, match="probe") as err:
                lik.validate(bad)
            assert repr(float(value)) in str(err.value) or str(value) in str(err.value)
            assert re.search(type(lik).__name__, str(err.value))
            # a bad value under the mask is fine
            mask = torch.ones(obs.shape, dtype=torch.bool)
            mask[idx] = False
            lik.validate(bad, mask)

    # ------------------------------------------------------------------ devices and decoders
    def test_device_move(self, device: torch.device) -> None:
        lik, params, obs = self._setup(device=device)
        lp = lik.log_prob(params, obs, torch.ones(obs.shape, dtype=torch.bool, device=device))
        assert lp.device.type == device.type
        assert lik.sample(params).device.type == device.type
        assert lik.predict(params).device.type == device.type
        for name, t in [*lik.named_parameters(), *lik.named_buffers()]:
            assert t.device.type == device.type, name

    def test_linear_decoder_builds_valid_params(self) -> None:
        lik = self.make_likelihood()
        dec = LinearDecoder(3, lik)
        params = dec(torch.randn(*self.batch_shape, 3))
        for k, s in lik.param_shapes.items():
            assert params[k].shape == (*self.batch_shape, *s)
        obs = self.sample_obs(lik, {k: v.detach() for k, v in params.items()})
        lp = lik.log_prob(params, obs)
        assert torch.isfinite(lp).all()
        (-lp.sum()).backward()
        for name, p in dec.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name

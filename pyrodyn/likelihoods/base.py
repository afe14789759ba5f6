"""The `Likelihood` extension point: p(x_m | params) for one modality."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import Tensor

from pyrodyn.exceptions import DataError, DataTypeError, ShapeError


class Likelihood(PyroModule):
    """Observation model of one modality; subclasses implement `param_shapes` and `distribution`.

    A decoder maps latents to the parameters listed in :attr:`param_shapes` (its heads are sized
    from them); parameters that do not depend on the latent (a learned noise scale, ordinal
    thresholds) live in the likelihood itself. The base class gives the observe site, masking of
    missing entries (applied with ``mask`` *before* ``to_event``, so single entries can be
    missing), log-probabilities, mean/mode/sample and validation of observed values.

    Shapes: ``params[name]`` is ``(*batch, *param_shapes[name])`` where ``batch`` is, e.g.,
    ``(samples, sequences, time)``; :meth:`distribution` returns a distribution whose
    ``batch_shape + event_shape`` equals ``(*batch, *feature_shape)``.

    Args:
        feature_shape: per-step shape of one observation (an int for vectors).
        name: modality name used in error messages (set by the composed model).
    """

    #: Value substituted for missing entries before any log_prob (must lie in the support).
    placeholder: float = 0.0
    #: Trait: the support is continuous (real values: Gaussian, Laplace) rather than discrete
    #: (counts, categories, ordinal codes, binary). Code that needs "continuous channels" (input
    #: noise, state-space metrics, standardisation) reads this, never the class.
    continuous: ClassVar[bool] = False

    def __init__(self, feature_shape: int | tuple[int, ...], *, name: str | None = None) -> None:
        super().__init__()
        shape = (feature_shape,) if isinstance(feature_shape, int) else tuple(feature_shape)
        if not shape or any(int(s) < 1 for s in shape):
            raise ValueError(f"feature_shape must hold positive sizes, got {feature_shape!r}")
        self.feature_shape: tuple[int, ...] = tuple(int(s) for s in shape)
        self.modality = name

    @property
    def num_features(self) -> int:
        """Number of scalar entries per observation."""
        n = 1
        for s in self.feature_shape:
            n *= s
        return n

    @property
    @abstractmethod
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter name -> per-step shape that a decoder must produce."""

    @abstractmethod
    def distribution(self, params: Mapping[str, Tensor]) -> dist.TorchDistribution:
        """The element-wise observation distribution for decoder outputs ``params``."""

    # ------------------------------------------------------------------ validation
    def check_support(self, obs: Tensor) -> Tensor:
        """Bool tensor, True where an observed value is valid for this family (override)."""
        return torch.isfinite(obs)

    def describe_support(self) -> str:
        """Human-readable support used in error messages (override)."""
        return "finite real numbers"

    def validate(self, obs: Tensor, mask: Tensor | None = None) -> None:
        """Checks observations (and their mask) against the family, naming the modality.

        Args:
            obs: observations ``(*batch, *feature_shape)``: a real, integer or bool tensor.
            mask: bool tensor of the same shape, False where missing (not checked there).

        Raises:
            DataTypeError: ``obs`` is not a tensor or is complex; ``mask`` is not bool.
            ShapeError: the trailing dims of ``obs`` are not ``feature_shape``, or ``mask`` has
                another shape than ``obs``.
            DataError: an observed value lies outside the support (value and index named).
        """
        who = f"modality {self.modality or '?'!r} ({type(self).__name__} likelihood)"
        self._check_inputs(who, obs, mask)
        x = obs if obs.is_floating_point() or obs.dtype == torch.bool else obs.double()
        ok = self.check_support(x)
        mask = self.validation_mask(mask)
        if mask is not None:
            ok = ok | ~mask
        if not bool(ok.all()):
            bad = tuple((~ok).nonzero()[0].tolist())
            raise DataError(
                f"{who} has an invalid observed value {obs[bad].item()!r} at index {bad}; "
                f"expected {self.describe_support()}"
            )

    def _check_inputs(self, who: str, obs: Tensor, mask: Tensor | None) -> None:
        if not isinstance(obs, Tensor):
            raise DataTypeError(
                f"{who}: observations must be a torch.Tensor, got {type(obs).__name__}"
            )
        if obs.is_complex():
            raise DataTypeError(f"{who}: observations have complex dtype {obs.dtype}")
        k = len(self.feature_shape)
        if tuple(obs.shape[obs.dim() - k :]) != self.feature_shape or obs.dim() < k:
            got = tuple(obs.shape[max(obs.dim() - k, 0) :])
            raise ShapeError(
                f"{who}: observations of shape {tuple(obs.shape)} have feature shape {got}, "
                f"expected {self.feature_shape}"
            )
        if mask is None:
            return
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise DataTypeError(f"{who}: the mask must be bool, got {got}")
        if mask.shape != obs.shape:
            raise ShapeError(
                f"{who}: the mask has shape {tuple(mask.shape)}, the observations "
                f"{tuple(obs.shape)}; they must be equal"
            )

    def validation_mask(self, mask: Tensor | None) -> Tensor | None:
        """Entries :meth:`validate` checks (override, e.g. to skip partly observed events)."""
        return mask

    def fill(self, obs: Tensor, mask: Tensor | None) -> Tensor:
        """Replaces missing entries by :attr:`placeholder` (a value inside the support)."""
        if mask is None:
            return obs
        return torch.where(mask, obs, obs.new_full((), self.placeholder))

    # ------------------------------------------------------------------ scoring
    def _masked(self, params: Mapping[str, Tensor], mask: Tensor | None) -> dist.TorchDistribution:
        d = self.distribution(params)
        if mask is not None:
            d = d.mask(self.reduce_mask(mask, len(d.batch_shape)))
        return d

    def reduce_mask(self, mask: Tensor, ndim: int) -> Tensor:
        """Reduces an entry-wise ``mask`` to the distribution's ``ndim`` batch dims.

        Entries beyond the element-wise batch shape (e.g. the class axis of one-hot observations)
        share one mask entry; by default an event counts as observed when any entry is observed
        (override, e.g. to require all entries).
        """
        while mask.dim() > ndim:
            mask = mask.any(-1)
        return mask

    def forward(
        self,
        params: Mapping[str, Tensor],
        obs: Tensor | None = None,
        mask: Tensor | None = None,
        *,
        event_dims: int | None = None,
    ) -> Tensor:
        """Issues the observe site ``<module path>.obs`` (inside the model's plate).

        Args:
            params: decoder outputs, ``(*batch, *param_shape)``.
            obs: observations ``(*batch, *feature_shape)`` or None to sample.
            mask: bool, same shape as ``obs``; False entries contribute exactly 0.
            event_dims: dims folded into the event, default ``1 + len(feature_shape)`` (time and
                features); use ``len(feature_shape)`` for static samples.
        """
        if obs is not None:
            obs = self.fill(obs, mask)
        d = self._masked(params, mask)
        k = (1 + len(self.feature_shape)) if event_dims is None else event_dims
        k -= len(d.event_shape)
        if k > 0:
            d = d.to_event(k)
        return pyro.sample(self._pyro_get_fullname("obs"), d, obs=obs)

    def log_prob(
        self, params: Mapping[str, Tensor], obs: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """Masked log-probability summed over features: ``(*batch)`` (e.g. per sequence step)."""
        d = self._masked(params, mask)
        lp = d.log_prob(self.fill(obs, mask))
        extra = lp.dim() - (obs.dim() - len(self.feature_shape))
        return lp.sum(tuple(range(-extra, 0))) if extra > 0 else lp

    # ------------------------------------------------------------------ predictions
    def mean(self, params: Mapping[str, Tensor]) -> Tensor:
        """Predictive mean ``(*batch, *feature_shape)``."""
        return self.distribution(params).mean

    def mode(self, params: Mapping[str, Tensor]) -> Tensor:
        """Predictive mode ``(*batch, *feature_shape)`` (the mean where no mode is defined)."""
        d = self.distribution(params)
        try:
            return d.mode
        except NotImplementedError:
            return d.mean

    def sample(self, params: Mapping[str, Tensor]) -> Tensor:
        """One draw ``(*batch, *feature_shape)``."""
        return self.distribution(params).sample()

    def predict(self, params: Mapping[str, Tensor], kind: str = "default") -> Tensor:
        """Point prediction used by ``generate``.

        Args:
            params: decoder outputs.
            kind: ``"mean"``, ``"mode"``, ``"sample"`` or ``"default"`` (the family's natural
                choice, :meth:`mean` unless overridden).
        """
        if kind == "default":
            return self.default_prediction(params)
        if kind == "mean":
            return self.mean(params)
        if kind == "mode":
            return self.mode(params)
        if kind == "sample":
            return self.sample(params)
        raise ValueError(f"unknown prediction kind {kind!r}; use default, mean, mode or sample")

    def default_prediction(self, params: Mapping[str, Tensor]) -> Tensor:
        """The family's natural point prediction (mean; ordinal and categorical use the mode)."""
        return self.mean(params)

    def init_from_data(self, obs: Tensor, mask: Tensor) -> None:
        """Trait: initialises data-dependent parameters from observations (no-op by default).

        Called once before training (e.g. a Poisson intercept at the log of the mean count).

        Args:
            obs: ``(..., *feature_shape)`` observations.
            mask: bool, same shape; False entries are missing.
        """

    def init_decoder_head(self, name: str, weight: Tensor, bias: Tensor | None) -> None:
        """Hook to initialise the decoder head producing ``params[name]`` (no-op by default)."""

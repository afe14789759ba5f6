"""Capabilities a composed model declares by inheriting them (never found by sniffing).

The application layer (``generate``, ``evaluate``, ``diagnose``, the CLI) and the metrics
dispatch on ``isinstance(model, Capability)``; a model that inherits a capability implements its
abstract methods. A model may still refuse at run time with a clear error when its parts do not
allow it (an SVAE whose prior has no transition map cannot free-run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.priors.base import LatentPrior

_F = TypeVar("_F", bound=Callable[..., Any])


def required(fn: _F) -> _F:
    """Marks a capability method every model declaring the capability must implement."""
    fn._pyrodyn_required = True  # type: ignore[attr-defined]
    return fn


class Capability:
    """Base of the capabilities.

    A subclass that is not itself a capability must implement every :func:`required` method
    (checked when the class is created).

    Plain classes rather than ``abc.ABC``: Pyro's module metaclass does not combine with
    ``ABCMeta``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_capability", False):
            return
        missing = sorted(
            name
            for name in dir(cls)
            if getattr(getattr(cls, name, None), "_pyrodyn_required", False)
        )
        if missing:
            caps = [c.__name__ for c in cls.__mro__ if c.__dict__.get("_capability", False)]
            raise TypeError(
                f"{cls.__name__} declares the capabilities {caps} but does not implement {missing}"
            )


class Generates(Capability):
    """Free-running generation from the model's own latent dynamics (never replayed data)."""

    _capability: ClassVar[bool] = True

    #: Extra keyword options :meth:`generate` accepts beyond the common ones (e.g. ``noise``).
    generation_options: ClassVar[frozenset[str]] = frozenset()

    @required
    def generate(
        self,
        num_steps: int,
        *,
        init: MultimodalBatch | None = None,
        num_trials: int = 1,
        burn_in: int = 0,
        prediction: str = "default",
        **options: Any,
    ) -> dict[str, Tensor]:
        """``{modality: (trials, steps, *features), "latent": (trials, steps, D)}``."""

    def generation_limit(self, init: MultimodalBatch) -> int | None:
        """Most steps (burn-in included) one free run from ``init`` may cover (None: no limit)."""
        return None


class ForecastsAhead(Capability):
    """n-step-ahead forecasts from every step of a batch (the n-step prediction error)."""

    _capability: ClassVar[bool] = True

    @required
    def forecast(self, batch: MultimodalBatch, horizon: int) -> dict[str, Tensor]:
        """``{modality: (B, T, H, *features)}``; ``out[m][:, t, h]`` predicts ``x_{t+h+1}``."""


class ForecastsFromContext(Capability):
    """Forecasts of a whole trajectory from its first ``context`` frames (LaDID)."""

    _capability: ClassVar[bool] = True

    @required
    def forecast(
        self, batch: MultimodalBatch, times: Tensor | None = None, **options: Any
    ) -> dict[str, Tensor]:
        """``{modality: (B, Q, *features)}`` at the query ``times`` (default: the batch's)."""


class HasInstanceCode(Capability):
    """An instance code per sequence (``encode`` adds ``"code"`` ``(B, K)``)."""

    _capability: ClassVar[bool] = True

    @required
    def code_posterior(self, batch: MultimodalBatch) -> Any:
        """q(code | context) with batch shape ``(B,)``."""


class Imputes(Capability):
    """Conditional generation of every modality from a subset of them."""

    _capability: ClassVar[bool] = True

    @required
    def impute(self, batch: MultimodalBatch, available: Any, **options: Any) -> dict[str, Tensor]:
        """Modality -> prediction ``(B, [T,] *features)`` from the ``available`` modalities."""


class HasProperPrior(Capability):
    """Data can be simulated from the model alone: a proper prior on every latent site.

    Every latent site has a proper prior that does not read the data, and the joint density is
    those priors times the likelihoods (no ``pyro.factor`` terms), so tracing ``model`` on
    :meth:`MultimodalBatch.without_observations` draws latents from the prior and observations
    from the likelihoods (what simulation-based calibration needs). A model whose parts do not
    allow it in a given configuration names them in :meth:`improper_priors`.
    """

    _capability: ClassVar[bool] = True

    def improper_priors(self) -> list[str]:
        """Names of the latent priors that are improper or read the data (empty: none)."""
        return [
            name or type(mod).__name__
            for name, mod in self.named_modules()  # type: ignore[attr-defined]
            if isinstance(mod, LatentPrior) and (not mod.is_proper or mod.needs_posteriors)
        ]


def require(model: Any, capability: type, action: str) -> None:
    """Raises ``TypeError`` naming the model and the capability ``action`` needs."""
    if not isinstance(model, capability):
        raise TypeError(
            f"{type(model).__name__} cannot {action}: it does not declare the "
            f"{capability.__name__} capability"
        )


__all__ = [
    "Capability",
    "ForecastsAhead",
    "ForecastsFromContext",
    "Generates",
    "HasInstanceCode",
    "HasProperPrior",
    "Imputes",
    "require",
    "required",
]

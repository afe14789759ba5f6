"""The `GenerativeModel` extension point: a composed Pyro model/guide pair and its objective."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pyro
import pyro.poutine as poutine
import torch
from pyro.nn import PyroModule, pyro_method
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.capabilities import Generates
from pyrodyn.models.params import ensure_local_state, in_local_params, local_params
from pyrodyn.objectives.elbo import TermsELBO, TraceELBO

#: Methods of the base class that stay outside the module-local wrapping (Pyro's own pair).
_PAIR = ("model", "guide")

#: Inference methods: their outputs are results, not part of a computation graph, so they run
#: without autograd (``.numpy()`` works on what they return).
_INFERENCE = frozenset({"encode", "generate", "predict", "forecast", "impute"})


def _no_grad(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper


class BoundPair(nn.Module):
    """``model.model`` / ``model.guide``: a bound method that is also a torch module.

    Pyro's ``ELBO.__call__(model, guide)`` returns an ``ELBOModule`` whose ``parameters()`` are
    those of its ``model`` and ``guide`` attributes; a plain bound method has none, so the pair
    is handed out as a small module holding the composed model. Calling it calls the method.
    """

    def __init__(self, owner: GenerativeModel, fn: Callable[..., Any], name: str) -> None:
        super().__init__()
        self.owner = owner
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "__name__", name)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Calls the bound method."""
        if pyro.settings.get("module_local_params") and not in_local_params(self.owner):
            # Pyro's module-local mode on a model built under the default settings
            ensure_local_state(self.owner)
        return self._fn(self.owner, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self.owner).__name__}.{self.__name__} (bound pair method)>"


class _PairMethod:
    """Descriptor turning ``model`` / ``guide`` into :class:`BoundPair` modules on access."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = pyro_method(fn)
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__wrapped__ = fn

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self.fn
        return BoundPair(obj, self.fn, self.__name__)


def _locally(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Runs a public method with module-local parameters unless a Pyro context is active.

    Outside Pyro's own tools (SVI, Predictive, an ELBO module under the global param store) a
    model's methods never touch Pyro's global param store, so two models in one process never
    share parameters through it.
    """

    @functools.wraps(fn)
    def wrapper(self: GenerativeModel, *args: Any, **kwargs: Any) -> Any:
        if self._pyro_context.active or in_local_params(self):
            return fn(self, *args, **kwargs)
        with local_params(self):
            return fn(self, *args, **kwargs)

    wrapper._pyrodyn_local = True  # type: ignore[attr-defined]
    return wrapper


class GenerativeModel(PyroModule):
    """A composed model: a Pyro model/guide pair, the ELBO it is trained with, capabilities.

    Subclasses implement ``model(batch, **scheduled)``, ``guide(batch, **scheduled)`` and
    ``encode(batch)``. Every latent site is a prior slot (a `LatentPrior`); observe sites come
    from :meth:`observe`; terms that are not part of an ELBO are named ``pyro.factor`` sites in
    ``model``, and ``is_elbo = False`` says so. Capabilities (free-running generation,
    forecasting, an instance code, imputation) are declared by inheriting the classes of
    :mod:`pyrodyn.models.capabilities`.

    Pyro's idioms work on every model under Pyro's default settings: ``model.model`` and
    ``model.guide`` are torch modules holding the model (so ``Trace_ELBO()(model.model,
    model.guide).parameters()`` are its parameters), sample-site names are stable across
    instances, and every site is vectorised over leading sample dimensions
    (``Predictive(parallel=True)``, vectorised particles). The other public methods run with
    module-local parameters, so they never touch Pyro's global param store.

    :meth:`loss` is ``model.elbo``'s loss of the pair divided by :meth:`normaliser`, with one
    named term per site (:mod:`pyrodyn.objectives.elbo`).

    Args:
        likelihoods: modality name -> likelihood (the modalities of the model).
    """

    #: Whether :meth:`loss` is a negative ELBO of ``model``/``guide`` (IWAE/PSIS apply).
    is_elbo: ClassVar[bool] = True
    #: Whether the model consumes static samples (no time axis).
    is_static: ClassVar[bool] = False
    #: Whether the model free-runs latent dynamics (derived from the `Generates` capability).
    is_dynamical: ClassVar[bool] = False
    #: The objective class :meth:`default_elbo` builds (and the app layer's default).
    default_objective: ClassVar[type[TermsELBO]] = TraceELBO

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.is_dynamical = issubclass(cls, Generates)
        for name, fn in list(cls.__dict__.items()):
            if name in _PAIR:
                if not isinstance(fn, _PairMethod):
                    setattr(cls, name, _PairMethod(fn))
            elif (
                callable(fn)
                and not name.startswith("_")
                and not isinstance(fn, (type, staticmethod, classmethod))
                and not getattr(fn, "_pyrodyn_local", False)
            ):
                setattr(cls, name, _locally(_no_grad(fn) if name in _INFERENCE else fn))

    def __init__(self, likelihoods: Mapping[str, Likelihood]) -> None:
        super().__init__()
        if not likelihoods:
            raise ValueError("a model needs at least one modality likelihood, got none")
        for m, lik in likelihoods.items():
            if not isinstance(lik, Likelihood):
                raise TypeError(
                    f"likelihood of modality {m!r} must be a pyrodyn Likelihood, got "
                    f"{type(lik).__name__}"
                )
            lik.modality = m
        self.likelihoods = PyroModule[nn.ModuleDict](dict(likelihoods))
        #: modality -> likelihood weight (per-modality loss weights), 1 by default.
        self.modality_weights: dict[str, float] = {m: 1.0 for m in likelihoods}

    # ------------------------------------------------------------------ the objective
    def default_elbo(self) -> TermsELBO:
        """The ELBO the model is trained with unless one is assigned (:attr:`default_objective`)."""
        return self.default_objective()

    @property
    def elbo(self) -> TermsELBO:
        """The Pyro ELBO of the pair (a :class:`~pyrodyn.objectives.elbo.TermsELBO`).

        :meth:`default_elbo` until one is assigned (``model.elbo = MeanFieldELBO(...)``).
        """
        if "_elbo" not in self.__dict__:
            self.elbo = self.default_elbo()
        return self.__dict__["_elbo"]

    @elbo.setter
    def elbo(self, value: TermsELBO) -> None:
        if not isinstance(value, TermsELBO):
            raise TypeError(
                "model.elbo must be a pyrodyn objective (pyrodyn.objectives.TraceELBO, "
                f"MeanFieldELBO or a TermsELBO subclass), got {type(value).__name__}"
            )
        value.modalities = list(self.likelihoods.keys())
        self.__dict__["_elbo"] = value

    # ------------------------------------------------------------------ the model/guide pair
    @property
    def modalities(self) -> list[str]:
        """The model's modality names."""
        return list(self.likelihoods.keys())

    def model(self, batch: MultimodalBatch, **scheduled: Any) -> Any:
        """The generative model p(x, z) (one vectorised site per latent tensor)."""
        raise NotImplementedError(f"{type(self).__name__} must implement model(batch)")

    def guide(self, batch: MultimodalBatch, **scheduled: Any) -> Any:
        """The variational posterior q(z | x) (same latent sites as the model)."""
        raise NotImplementedError(f"{type(self).__name__} must implement guide(batch)")

    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Posterior means: ``{"latent": (B, T, D) or (B, D), ...}`` plus model-specific parts."""
        raise NotImplementedError(f"{type(self).__name__} must implement encode(batch)")

    def init_from_data(self, batch: MultimodalBatch) -> None:
        """Initialises data-dependent parameters before training (no-op by default).

        ``fit`` calls it once, on the first training batch, when a fit starts (not on resume).
        Models that want their likelihoods' :meth:`Likelihood.init_from_data` call it here.
        """

    def plate(self, batch: MultimodalBatch) -> pyro.plate:
        """The sequence plate ``"sequences"`` (dim -1) of a batch."""
        return pyro.plate("sequences", batch.num_sequences, dim=-1)

    def check_batch(self, batch: MultimodalBatch) -> None:
        """Validates a batch against the model: modalities, static-ness and observed values."""
        if not isinstance(batch, MultimodalBatch):
            raise TypeError(
                f"{type(self).__name__} takes a MultimodalBatch, got {type(batch).__name__}"
            )
        missing = [m for m in self.modalities if m not in batch.obs]
        if missing:
            raise ValueError(
                f"batch lacks modalities {missing} of the model; it has {batch.modalities}"
            )
        if batch.static != self.is_static:
            want = "static samples" if self.is_static else "sequences"
            raise ValueError(f"{type(self).__name__} expects {want}; got static={batch.static}")
        if batch.observed:
            for m in self.modalities:
                self.likelihoods[m].validate(batch.obs[m], batch.mask[m])

    def observe(
        self,
        batch: MultimodalBatch,
        params: Mapping[str, Mapping[str, Tensor]],
        *,
        step_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Issues one observe site per modality, masked and weighted (call inside the plate).

        With ``batch.observed`` False (:meth:`MultimodalBatch.without_observations`) the sites
        are sampled, not conditioned: ``Predictive`` then returns replicated observations.

        Args:
            batch: the data.
            params: modality -> decoder outputs ``(..., B, [T,] *param_shape)``.
            step_mask: optional ``(B, T)`` bool restricting which steps are scored.

        Returns:
            modality -> the site's value (the observations, or a draw).
        """
        out = {}
        for m in self.modalities:
            mask = batch.mask[m]
            if step_mask is not None:
                mask = mask & step_mask.reshape(*step_mask.shape, *([1] * (mask.dim() - 2)))
            lik = self.likelihoods[m]
            event_dims = len(lik.feature_shape) + (0 if batch.static else 1)
            obs = batch.obs[m] if batch.observed else None
            weight = float(self.modality_weights.get(m, 1.0))
            # Pyro's scale must be positive: a weight of 0 masks the site instead
            scaled = poutine.scale(scale=weight) if weight > 0 else poutine.mask(mask=False)
            with scaled:
                out[m] = lik(params[m], obs=obs, mask=mask, event_dims=event_dims)
        return out

    # ------------------------------------------------------------------ objective
    def loss(self, batch: MultimodalBatch, **scheduled: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """``model.elbo``'s loss of the pair per :meth:`normaliser` unit, and its named terms.

        Equal to ``model.elbo.differentiable_loss(model.model, model.guide, batch,
        **scheduled) / normaliser`` under the same random state; the terms (``nll.<modality>``,
        ``kl.<site>``, factor names) sum to the total.

        Returns:
            ``(total, terms)``: a differentiable scalar and a dict of detached scalars.
        """
        out = self.elbo.loss_and_terms(self.model, self.guide, batch, **scheduled)
        norm = float(self.normaliser(*out.args))
        return out.loss / norm, {k: v / norm for k, v in out.terms.items()}

    def normaliser(self, batch: MultimodalBatch) -> float:
        """Count the loss is divided by: observed sequence steps (samples for static data)."""
        if batch.static:
            return float(batch.num_sequences)
        if batch.lengths is not None:
            return float(batch.lengths.sum().clamp_min(1))
        return float(batch.num_sequences * batch.num_steps)

    # ------------------------------------------------------------------ decoding
    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality for latents ``(..., D)`` (models with decoders override)."""
        raise TypeError(f"{type(self).__name__} does not define decode()")

    def predict(
        self, latent: Tensor | Mapping[str, Tensor], prediction: str = "default"
    ) -> dict[str, Tensor]:
        """Point predictions per modality from latents (decode + likelihood prediction).

        Non-finite latents (a free run that diverged) give non-finite predictions rather than an
        argument-validation error: the decoder outputs are the model's own, not user input.
        """
        params = self.decode(latent)
        with pyro.validation_enabled(False):
            return {m: self.likelihoods[m].predict(params[m], prediction) for m in params}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, config: Mapping[str, Any] | None = None) -> None:
        """Writes the parameters (and optionally the config that rebuilds the model) atomically."""
        from pyrodyn.io import atomic_save

        atomic_save({"state_dict": self.state_dict(), "config": dict(config or {})}, path)

    def load(self, path: str | os.PathLike, *, strict: bool = True) -> dict[str, Any]:
        """Loads parameters written by :meth:`save` or by ``fit`` (``weights_only=True``).

        Returns:
            The rest of the checkpoint (config, step, ...).
        """
        from pyrodyn.io import load_checkpoint

        ckpt = load_checkpoint(path)
        if "state_dict" not in ckpt:
            raise ValueError(f"{path!s} is not a pyrodyn checkpoint (no 'state_dict')")
        self.load_state_dict(ckpt["state_dict"], strict=strict)
        return {k: v for k, v in ckpt.items() if k != "state_dict"}


# the base class's own public methods run module-local too (subclass methods are wrapped in
# GenerativeModel.__init_subclass__)
for _name in ("loss", "predict", "check_batch", "normaliser"):
    _fn = GenerativeModel.__dict__[_name]
    setattr(GenerativeModel, _name, _locally(_no_grad(_fn) if _name in _INFERENCE else _fn))
del _name, _fn

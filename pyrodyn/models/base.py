"""The `GenerativeModel` extension point: a composed Pyro model/guide pair."""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import pyro
import pyro.poutine as poutine
import torch
from pyro.infer import Trace_ELBO
from pyro.nn import PyroModule, pyro_method
from pyro.poutine.util import site_is_subsample
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods.base import Likelihood


def _require_module_local_params() -> None:
    if not pyro.settings.get("module_local_params"):
        raise RuntimeError(
            "pyrodyn models need pyro.settings module_local_params=True before they are built "
            "(`import pyrodyn` sets it; something turned it off)"
        )


class GenerativeModel(PyroModule):
    """A composed model; subclasses implement ``model``, ``guide`` and ``encode``.

    ``model(batch, **scheduled)`` and ``guide(batch, **scheduled)`` form the Pyro pair;
    ``encode(batch)`` returns posterior means.

    ``model`` and ``guide`` are wrapped with Pyro's ``pyro_method`` automatically (without it,
    module-local parameters and hierarchical site names do not work). The composed model owns the
    sequence plate (:meth:`plate`); components never open plates.

    :meth:`loss` returns ``(total, terms)``; by default the negative ELBO of model/guide per
    observed sequence step, with one named term per site (``nll.<modality>``, ``kl.<site>``).
    Models whose objective is not an ELBO override :meth:`loss` and set ``is_elbo = False``.

    Args:
        likelihoods: modality name -> likelihood (the modalities of the model).
    """

    #: Whether :meth:`loss` is the negative ELBO of ``model``/``guide`` (IWAE/PSIS apply).
    is_elbo: ClassVar[bool] = True
    #: Whether :meth:`generate` free-runs latent dynamics.
    is_dynamical: ClassVar[bool] = False
    #: Whether the model consumes static samples (no time axis).
    is_static: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("model", "guide"):
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "_pyrodyn_pyro_method", False):
                wrapped = pyro_method(fn)
                wrapped._pyrodyn_pyro_method = True
                setattr(cls, name, wrapped)

    def __init__(self, likelihoods: Mapping[str, Likelihood]) -> None:
        _require_module_local_params()
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

    # ------------------------------------------------------------------ the model/guide pair
    @property
    def modalities(self) -> list[str]:
        """The model's modality names."""
        return list(self.likelihoods.keys())

    @abstractmethod
    def model(self, batch: MultimodalBatch, **scheduled: Any) -> Any:
        """The generative model p(x, z) (one vectorised site per latent tensor)."""

    @abstractmethod
    def guide(self, batch: MultimodalBatch, **scheduled: Any) -> Any:
        """The variational posterior q(z | x) (same latent sites as the model)."""

    @abstractmethod
    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Posterior means: ``{"latent": (B, T, D) or (B, D), ...}`` plus model-specific parts."""

    def plate(self, batch: MultimodalBatch) -> pyro.plate:
        """The sequence plate ``"sequences"`` (dim -1) of a batch."""
        return pyro.plate("sequences", batch.num_sequences, dim=-1)

    def check_batch(self, batch: MultimodalBatch) -> None:
        """Validates a batch against the model: modalities, static-ness and observed values."""
        missing = [m for m in self.modalities if m not in batch.obs]
        if missing:
            raise ValueError(
                f"batch lacks modalities {missing} of the model; it has {batch.modalities}"
            )
        if batch.static != self.is_static:
            want = "static samples" if self.is_static else "sequences"
            raise ValueError(f"{type(self).__name__} expects {want}; got static={batch.static}")
        for m in self.modalities:
            self.likelihoods[m].validate(batch.obs[m], batch.mask[m])

    def observe(
        self,
        batch: MultimodalBatch,
        params: Mapping[str, Mapping[str, Tensor]],
        *,
        step_mask: Tensor | None = None,
    ) -> None:
        """Issues one observe site per modality, masked and weighted (call inside the plate).

        Args:
            batch: the data.
            params: modality -> decoder outputs ``(B, [T,] *param_shape)``.
            step_mask: optional ``(B, T)`` bool restricting which steps are scored.
        """
        for m in self.modalities:
            mask = batch.mask[m]
            if step_mask is not None:
                mask = mask & step_mask.reshape(*step_mask.shape, *([1] * (mask.dim() - 2)))
            lik = self.likelihoods[m]
            event_dims = len(lik.feature_shape) + (0 if batch.static else 1)
            with poutine.scale(scale=self.modality_weights.get(m, 1.0)):
                lik(params[m], obs=batch.obs[m], mask=mask, event_dims=event_dims)

    # ------------------------------------------------------------------ objective
    def loss(self, batch: MultimodalBatch, **scheduled: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """Negative ELBO per observed sequence step and its named terms.

        Returns:
            ``(total, terms)``: a differentiable scalar and a dict of detached scalars
            (``nll.<modality>`` for observe sites, ``kl.<site>`` for latent sites, the Monte-Carlo
            ``log q - log p`` of one sample).
        """
        guide_tr = poutine.trace(self.guide).get_trace(batch, **scheduled)
        model_tr = poutine.trace(poutine.replay(self.model, trace=guide_tr)).get_trace(
            batch, **scheduled
        )
        norm = float(self.normaliser(batch))
        terms: dict[str, Tensor] = {}
        total = None
        # plates record subsample sites; they are not latents (no KL term, no score function)
        reparam = all(
            site["fn"].has_rsample
            for site in guide_tr.nodes.values()
            if site["type"] == "sample" and not site["is_observed"] and not site_is_subsample(site)
        )
        model_tr.compute_log_prob()
        guide_tr.compute_log_prob()
        for name, site in model_tr.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            lp = site["log_prob_sum"]
            if site["is_observed"]:
                key = "nll." + _modality_of(name, self.modalities)
                term = -lp
            else:
                key = "kl." + name
                term = guide_tr.nodes[name]["log_prob_sum"] - lp
            terms[key] = terms.get(key, 0.0) + term / norm
            total = term if total is None else total + term
        if total is None:
            raise RuntimeError(f"{type(self).__name__}.model issued no sample site")
        if not reparam:
            # score-function sites: let Pyro build the surrogate (same value, correct gradient)
            total = Trace_ELBO().differentiable_loss(self.model, self.guide, batch, **scheduled)
        return total / norm, {k: v.detach() for k, v in terms.items()}

    def normaliser(self, batch: MultimodalBatch) -> float:
        """Count the loss is divided by: observed sequence steps (samples for static data)."""
        if batch.static:
            return float(batch.num_sequences)
        if batch.lengths is not None:
            return float(batch.lengths.sum().clamp_min(1))
        return float(batch.num_sequences * batch.num_steps)

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        num_steps: int,
        *,
        init: MultimodalBatch | None = None,
        num_trials: int = 1,
        burn_in: int = 0,
        prediction: str = "default",
    ) -> dict[str, Tensor]:
        """Free-running generation ``{modality: (trials, steps, *features), "latent": ...}``.

        Dynamical models override this (starting from the encoder state of ``init``).
        """
        raise TypeError(
            f"{type(self).__name__} has no latent dynamics to free-run; generate() is defined for "
            "dynamical models (MTF, SVAE, LaDID)"
        )

    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality for latents ``(..., D)`` (models with decoders override)."""
        raise TypeError(f"{type(self).__name__} does not define decode()")

    def predict(
        self, latent: Tensor | Mapping[str, Tensor], prediction: str = "default"
    ) -> dict[str, Tensor]:
        """Point predictions per modality from latents (decode + likelihood prediction)."""
        params = self.decode(latent)
        return {m: self.likelihoods[m].predict(params[m], prediction) for m in params}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, config: Mapping[str, Any] | None = None) -> None:
        """Writes the parameters (and optionally the config that rebuilds the model) atomically."""
        from pyrodyn.infer.checkpoint import atomic_save

        atomic_save({"state_dict": self.state_dict(), "config": dict(config or {})}, path)

    def load(self, path: str | os.PathLike, *, strict: bool = True) -> dict[str, Any]:
        """Loads parameters written by :meth:`save` or by ``fit`` (``weights_only=True``).

        Returns:
            The rest of the checkpoint (config, step, ...).
        """
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if "state_dict" not in ckpt:
            raise ValueError(f"{path!s} is not a pyrodyn checkpoint (no 'state_dict')")
        # materialise lazily-created parameters so every key has a home
        self.load_state_dict(ckpt["state_dict"], strict=strict)
        return {k: v for k, v in ckpt.items() if k != "state_dict"}


def _modality_of(site: str, modalities: list[str]) -> str:
    """Modality name of an observe site ``likelihoods.<m>.obs`` (or the site name itself)."""
    for m in modalities:
        if f".{m}." in f".{site}" or site.endswith(f"{m}.obs"):
            return m
    return site

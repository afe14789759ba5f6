"""The reference code's loss for LaDID (spec ladid 1.7), for parity checks only.

The released code minimises ``N_train / B * (recon + lambda (emb + prior) + overlap)`` with

* ``recon = -sum log N(y | mean(z), sigma_y^2)`` over the query frames, with a fixed
  ``sigma_y`` (1e-3) around the likelihood's mean,
* ``emb`` the embedding term (``reg.embedding`` unweighted),
* ``prior = -sum log N(psi | 0, I)`` of the guide's sample: no entropy of q(psi),
* ``overlap`` the smoothness term (``reg.overlap`` unweighted), added with weight 1.

It is not an ELBO of the pair (no entropy, a fixed observation scale instead of the model's
likelihood), so it is its own objective over the traces of model and guide rather than a
``pyro.factor`` inside them; it reads the model's return value (latents, decoder outputs, the
unweighted regularisers) and the guide's ``psi`` sample. ``model.loss`` does not divide it by a
number of steps (:attr:`per_step` is False), as the reference does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pyro.distributions as dist
import torch
from pyro.poutine import Trace
from torch import Tensor

from pyrodyn.models.ladid.objective import DEFAULTS, LaDIDObjective, ladid_of
from pyrodyn.objectives.elbo import LossOutput

#: Options of the reference objective and their defaults.
REFERENCE_DEFAULTS: dict[str, Any] = {**DEFAULTS, "obs_scale": 1e-3, "num_train": None}


class LaDIDReferenceObjective(LaDIDObjective):
    """The reference's non-ELBO loss on LaDID's multiple-shooting windows (parity checks).

    Takes :class:`LaDIDObjective`'s options (windows, ``embedding_weight`` as the reference's
    lambda, ``overlap``/``overlap_weight`` to switch the smoothness term on) and:

    Args:
        obs_scale: the fixed observation scale sigma_y (reference: 1e-3).
        num_train: N_train of the ``N_train / B`` factor (None: no factor).
        **kwargs: :class:`LaDIDObjective` options and Pyro ELBO arguments.

    The context frames are never scored (``score_context`` is ignored) and
    ``frames_per_window`` is refused (the reference decodes every frame). Terms ``ref.recon``,
    ``ref.embedding``, ``ref.prior``, ``ref.overlap`` (each with the ``N_train / B`` factor and
    lambda applied) sum to the loss. Only reparameterised guides are differentiated correctly
    (the reference has no score-function term).
    """

    defaults: ClassVar[dict[str, Any]] = REFERENCE_DEFAULTS
    legacy_model_keys: ClassVar[frozenset[str]] = frozenset()
    per_step: ClassVar[bool] = False

    def __init__(
        self, *, obs_scale: float = 1e-3, num_train: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(obs_scale, bool)
            or not isinstance(obs_scale, (int, float))
            or (not obs_scale > 0)
        ):
            raise ValueError(f"LaDID objective option obs_scale must be > 0, got {obs_scale!r}")
        if num_train is not None and (
            isinstance(num_train, bool) or not isinstance(num_train, int) or num_train < 1
        ):
            raise ValueError(
                f"LaDID objective option num_train must be None or an int >= 1, got {num_train!r}"
            )
        if self.options["frames_per_window"] is not None:
            raise ValueError(
                "LaDIDReferenceObjective decodes every frame of a window; frames_per_window "
                "must be None"
            )
        self.obs_scale = float(obs_scale)
        self.num_train = num_train
        self._num_sequences = 1

    @property
    def is_elbo(self) -> bool:
        """Never an ELBO (no entropy of q(psi), a fixed observation scale)."""
        return False

    @property
    def query_only(self) -> bool:
        """The reference scores the query frames only."""
        return True

    def prepare(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """:meth:`LaDIDObjective.prepare`, remembering the batch size of ``N_train / B``."""
        if args:
            self._num_sequences = int(args[0].num_sequences)
        args, kwargs = super().prepare(args, kwargs)
        kwargs["score_context"] = False
        return args, kwargs

    # ------------------------------------------------------------------ the loss
    def reference_terms(self, model_trace: Trace, guide_trace: Trace) -> dict[str, Tensor]:
        """The reference's four terms of one particle (differentiable)."""
        owner = self._owner_ref() if self._owner_ref is not None else None
        windows = self._prepared[0][0]
        out = model_trace.nodes["_RETURN"]["value"]
        lam = float(self._prepared[1]["embedding_weight"])
        qmask = owner._score_mask(windows, query_only=True)
        zero = torch.zeros((), device=windows.device)
        recon = zero
        for m in owner.modalities:
            mean = owner.likelihoods[m].mean(out["params"][m])
            lp = dist.Normal(mean, self.obs_scale).log_prob(windows.obs[m])
            keep = windows.mask[m] & qmask.reshape(*qmask.shape, *([1] * (lp.dim() - 2)))
            recon = recon - (lp * keep).sum()
        prior = zero
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and name.startswith("psi"):
                prior = prior - dist.Normal(0.0, 1.0).log_prob(site["value"]).sum()
        emb = out["reg"]["embedding"].sum() if "embedding" in out["reg"] else zero
        ov = out["reg"]["overlap"].sum() if "overlap" in out["reg"] else zero
        scale = 1.0
        if self.num_train is not None:
            scale = float(self.num_train) / self._num_sequences
        return {
            "ref.recon": scale * recon,
            "ref.embedding": scale * lam * emb,
            "ref.prior": scale * lam * prior,
            "ref.overlap": scale * ov,
        }

    def loss_and_terms(
        self, model: Callable, guide: Callable, *args: Any, **kwargs: Any
    ) -> LossOutput:
        """The reference loss (averaged over particles) and its terms, from one set of traces."""
        ladid_of(model, type(self).__name__)
        n = self.num_particles
        parts: dict[str, Tensor] = {}
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            for key, value in self.reference_terms(model_trace, guide_trace).items():
                parts[key] = parts[key] + value / n if key in parts else value / n
        loss = sum(parts.values())
        args, kwargs = self._prepared
        return LossOutput(loss, {k: v.detach() for k, v in parts.items()}, args, kwargs)

    def differentiable_loss(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any):
        """The reference loss as a differentiable scalar."""
        return self.loss_and_terms(model, guide, *args, **kwargs).loss

    def loss(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        """The reference loss as a float."""
        with torch.no_grad():
            return float(self.loss_and_terms(model, guide, *args, **kwargs).loss)

    def loss_and_grads(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any):
        """The reference loss as a float, after back-propagating it."""
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())


__all__ = ["REFERENCE_DEFAULTS", "LaDIDReferenceObjective"]

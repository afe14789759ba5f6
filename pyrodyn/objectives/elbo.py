"""Pyro ELBOs that also report their named terms, from the same traces as the loss.

A composed model declares the ELBO it is trained with (``model.elbo``); ``model.loss`` is that
ELBO's ``differentiable_loss(model.model, model.guide, batch, **scheduled)`` divided by the
model's normaliser, with one named term per site:

* ``nll.<modality>`` for observe sites (``-log p(x | z)``),
* ``kl.<site>`` for latent sites (``log q - log p`` of the sample, or the closed-form KL for
  :class:`MeanFieldELBO` where one is registered),
* ``<site>`` for factor sites (``pyro.factor``: terms that are not part of an ELBO, such as MTF's
  forced-rollout likelihood or LaDID's regularisers), entering the loss as ``-factor``;
* or the name a site declares in ``infer={"term": name}`` (:data:`TERM_KEY`).

The terms sum to the loss (scales and masks applied in the model, e.g. a KL weight ``beta``, are
already inside them). An objective may carry default keyword arguments (``options``: loss
weights, input noise, ...) that reach model and guide unless the caller overrides them, and may
transform the arguments before both see them (:meth:`TermsELBO.prepare`, e.g. LaDID's
multiple-shooting windows), so the recipe lives in the objective, not in the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from pyro.distributions.util import is_identically_zero, scale_and_mask
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.util import check_fully_reparametrized, is_validation_enabled
from pyro.poutine import Trace
from pyro.poutine.util import site_is_factor, site_is_subsample
from torch import Tensor
from torch.distributions import kl_divergence

OBSERVED_PREFIX = "nll."
LATENT_PREFIX = "kl."
#: The ``infer`` key with which a site names its term (``infer={"term": "kl.shared"}``); sites
#: with one term name are summed into one term. A latent site declares it in the guide too (the
#: model's replayed site carries the guide's ``infer`` dict).
TERM_KEY = "term"


@dataclass
class LossOutput:
    """The loss of one evaluation and its parts.

    Attributes:
        loss: the differentiable loss (negative ELBO plus factors), summed, not normalised.
        terms: site term name -> detached scalar; they sum to ``loss``.
        args: the (prepared) positional arguments model and guide saw.
        kwargs: the (prepared) keyword arguments model and guide saw.
    """

    loss: Tensor
    terms: dict[str, Tensor]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def observed_term_name(site: str, modalities: list[str] | None = None) -> str:
    """``nll.<modality>`` for an observe site ``...likelihoods.<m>.obs`` (else ``nll.<site>``)."""
    for m in modalities or ():
        if f".{m}." in f".{site}" or site.endswith(f"{m}.obs"):
            return OBSERVED_PREFIX + m
    parts = site.split(".")
    if len(parts) >= 3 and parts[-1] == "obs" and parts[-3] == "likelihoods":
        return OBSERVED_PREFIX + parts[-2]
    return OBSERVED_PREFIX + site


class TermsELBO:
    """Mixin for a Pyro ELBO: named terms, default options and argument preparation.

    Args:
        options: default keyword arguments of model and guide (a caller's values win).
        **kwargs: the Pyro ELBO's own arguments (``num_particles``, ``vectorize_particles``,
            ``max_plate_nesting``, ...).

    Attributes:
        modalities: modality names used to name observe terms (the model sets them).
    """

    #: Model-config keys that moved from a model constructor into this objective's options (the
    #: app layer moves them from ``model:`` to ``objective:`` when it reads an old run).
    legacy_model_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, options: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options: dict[str, Any] = dict(options or {})
        self.modalities: list[str] = []

    @classmethod
    def legacy_spec(cls, moved: Mapping[str, Any]) -> dict[str, Any]:
        """The ``objective:`` config spec for model keys of an old run (:attr:`legacy_model_keys`).

        Override where an old key selects another objective (a reference-parity switch).
        """
        return {"type": cls.__name__, **moved}

    # ------------------------------------------------------------------ recipe hooks
    def prepare(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments model and guide see: ``options`` under the caller's keywords."""
        return tuple(args), {**self.options, **kwargs}

    def _get_traces(self, model: Callable, guide: Callable, args: Any, kwargs: Any) -> Iterator:
        args, kwargs = self.prepare(args, kwargs)
        self._prepared = (args, kwargs)
        yield from super()._get_traces(model, guide, args, kwargs)

    # ------------------------------------------------------------------ terms
    def site_terms(self, model_trace: Trace, guide_trace: Trace) -> dict[str, Tensor]:
        """Per-site contributions to the loss of one particle (they sum to its loss)."""
        terms: dict[str, Tensor] = {}
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            if site_is_factor(site):
                key, term = name, -site["log_prob_sum"]
            elif site["is_observed"]:
                key, term = observed_term_name(name, self.modalities), -site["log_prob_sum"]
            else:
                key, term = LATENT_PREFIX + name, self.latent_term(site, guide_trace.nodes[name])
            key = str((site.get("infer") or {}).get(TERM_KEY, key))
            terms[key] = terms[key] + term if key in terms else term
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and name not in model_trace.nodes:
                if site_is_subsample(site):
                    continue
                # auxiliary guide sites (Pyro's convention): their entropy enters the loss
                terms[LATENT_PREFIX + name] = site["log_prob_sum"]
        return terms

    def latent_term(self, model_site: dict, guide_site: dict) -> Tensor:
        """``log q(z) - log p(z)`` of the sample (override for closed forms)."""
        return guide_site["log_prob_sum"] - model_site["log_prob_sum"]

    def _particle_and_terms(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[float, Tensor, dict[str, Tensor]]:
        """``(loss, surrogate, terms)`` of one particle (Pyro's loss and the named terms)."""
        loss, surrogate = self._differentiable_loss_particle(model_trace, guide_trace)
        return loss, surrogate, self.site_terms(model_trace, guide_trace)

    def loss_and_terms(
        self, model: Callable, guide: Callable, *args: Any, **kwargs: Any
    ) -> LossOutput:
        """The differentiable loss and its named terms from one set of traces.

        The loss equals ``differentiable_loss(model, guide, *args, **kwargs)`` under the same
        random state: the same traces give both.
        """
        loss = 0.0
        surrogate = 0.0
        terms: dict[str, Tensor] = {}
        n = self.num_particles
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss_p, surrogate_p, terms_p = self._particle_and_terms(model_trace, guide_trace)
            loss = loss + loss_p / n
            surrogate = surrogate + surrogate_p / n
            for key, value in terms_p.items():
                value = torch.as_tensor(value).detach() / n
                terms[key] = terms[key] + value if key in terms else value
        args, kwargs = self._prepared
        if not torch.is_tensor(surrogate):
            raise RuntimeError("the model and guide issued no sample site with a log-density")
        # Pyro's convention: the value of the loss, the gradient of the surrogate
        total = surrogate + (torch.as_tensor(loss, dtype=surrogate.dtype) - surrogate.detach())
        return LossOutput(total, terms, args, kwargs)


class TraceELBO(TermsELBO, Trace_ELBO):
    """Pyro's ``Trace_ELBO`` with named terms and options (see :class:`TermsELBO`)."""


class MeanFieldELBO(TermsELBO, TraceMeanField_ELBO):
    """Pyro's ``TraceMeanField_ELBO`` (closed-form KL where registered) with named terms."""

    def _differentiable_loss_particle(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[float, Tensor]:
        # the same value as TraceMeanField_ELBO's, from the named terms, so a KL (MMVM's
        # mixture bounds are not cheap) is computed once per particle, not twice
        loss, surrogate, _ = self._particle_and_terms(model_trace, guide_trace)
        return loss, surrogate

    def _particle_and_terms(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[float, Tensor, dict[str, Tensor]]:
        """Loss, surrogate (the loss itself: every guide site is reparameterised) and terms."""
        if is_validation_enabled():  # (the mean-field ordering is checked in _get_trace)
            for site in guide_trace.nodes.values():
                if site["type"] == "sample" and not site_is_subsample(site):
                    check_fully_reparametrized(site)
        terms = self.site_terms(model_trace, guide_trace)
        total = sum(terms.values())
        if not torch.is_tensor(total):
            total = torch.as_tensor(float(total))
        return float(total.detach()), total, terms

    def latent_term(self, model_site: dict, guide_site: dict) -> Tensor:
        """The registered ``KL(q || p)`` (scaled and masked as the guide site), else sampled."""
        try:
            kl = kl_divergence(guide_site["fn"], model_site["fn"])
        except NotImplementedError:
            entropy = guide_site["score_parts"].entropy_term
            return -(model_site["log_prob_sum"] - entropy.sum())
        kl = scale_and_mask(kl, scale=guide_site["scale"], mask=guide_site["mask"])
        if torch.is_tensor(kl):
            return kl.sum()
        return kl * torch.Size(guide_site["fn"].batch_shape).numel()


def check_terms(terms: Mapping[str, Tensor]) -> None:
    """Raises ``ValueError`` naming the first non-finite term."""
    for key, value in terms.items():
        if not bool(torch.isfinite(torch.as_tensor(value)).all()):
            raise ValueError(f"loss term {key!r} is not finite: {value}")


__all__ = [
    "TERM_KEY",
    "LossOutput",
    "MeanFieldELBO",
    "TermsELBO",
    "TraceELBO",
    "check_terms",
    "is_identically_zero",
    "observed_term_name",
]

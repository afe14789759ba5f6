"""The training objective of :class:`~pyrodyn.models.mmvm.MultimodalVAE` (its recipe).

``MultimodalVAE``'s model and guide take the KL weight ``beta``, the ``kl_per_modality`` switch
and MMVM's scheduled ``alpha`` as keyword arguments and apply them as weights of the latent
sites in both (:class:`~pyrodyn.distributions.weighted.Weighted`, a per-step
``poutine.scale``). This objective holds their values (``options``) and validates them, and
scheduled values passed to ``model.loss`` / ``svi.step`` (``beta``, ``alpha``) override them.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

from pyro.infer.elbo import ELBO

from pyrodyn.objectives.elbo import MeanFieldELBO
from pyrodyn.priors.mixture import check_alpha

#: Keyword arguments of Pyro's ``ELBO`` (``num_particles``, ``vectorize_particles``, ...).
ELBO_ARGUMENTS = frozenset(p for p in inspect.signature(ELBO.__init__).parameters if p != "self")


def check_beta(beta: Any, name: str = "beta") -> float:
    """A KL weight: a number >= 0 (ValueError / TypeError naming ``name`` otherwise)."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number >= 0, got {beta!r}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_scheduled(unknown: Mapping[str, Any]) -> None:
    """Refuses scheduled values MultimodalVAE does not take (a misspelt ``fit.schedules`` name).

    Raises:
        TypeError: naming the unknown values and the valid names.
    """
    if unknown:
        raise TypeError(
            f"MultimodalVAE got unknown scheduled values {sorted(unknown)}; it accepts "
            f"{sorted(MultimodalVAEObjective.defaults)}"
        )


class MultimodalVAEObjective(MeanFieldELBO):
    """``MeanFieldELBO`` of a `MultimodalVAE` with its KL weighting.

    Loss per sample (or observed step), with the KL closed form where registered (Gaussian
    fusions; MMVM's ``pairwise`` and ``lse`` bounds), else one Monte-Carlo sample::

        sum_m w_m NLL_m(x_m | z) + beta * sum_sites c_site KL(q_site || p_site)

    ``c_site`` is the number of modalities available at the row (or step) for a shared latent
    when ``kl_per_modality`` (the reference's ``M * beta`` convention, which keeps ``beta``
    comparable with the per-modality fusions), else 1; the per-modality weights ``w_m`` are the
    model's ``modality_weights``.

    Args:
        beta: KL weight (>= 0).
        kl_per_modality: count a shared latent's KL once per available modality.
        alpha: MMVM's N(0, I) weight in [0, 1] (None: the prior's own).
        options: the same options as a mapping (the keywords above win).
        **kwargs: Pyro ``ELBO`` arguments (``num_particles``, ``vectorize_particles``, ...).
    """

    #: The model-config keys this objective took over from ``MultimodalVAE``.
    legacy_model_keys: ClassVar[frozenset[str]] = frozenset({"beta", "kl_per_modality"})
    #: Option name -> default.
    defaults: ClassVar[Mapping[str, Any]] = {"beta": 1.0, "kl_per_modality": True, "alpha": None}

    def __init__(
        self,
        *,
        beta: float = 1.0,
        kl_per_modality: bool = True,
        alpha: float | None = None,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - ELBO_ARGUMENTS)
        if unknown:
            raise TypeError(
                f"MultimodalVAEObjective got unknown options {unknown}; valid options: "
                f"{sorted(self.defaults)} and Pyro ELBO arguments {sorted(ELBO_ARGUMENTS)}"
            )
        opts = {"beta": beta, "kl_per_modality": kl_per_modality, "alpha": alpha}
        opts.update(dict(options or {}))
        super().__init__(options=self.check_options(opts), **kwargs)

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Validated options: known names, ``beta >= 0``, bool ``kl_per_modality``, ``alpha``."""
        unknown = sorted(set(options) - set(cls.defaults))
        if unknown:
            raise TypeError(
                f"MultimodalVAEObjective got unknown options {unknown}; valid options: "
                f"{sorted(cls.defaults)}"
            )
        out = dict(options)
        if "beta" in out:
            out["beta"] = check_beta(out["beta"])
        if "kl_per_modality" in out and not isinstance(out["kl_per_modality"], bool):
            got = out["kl_per_modality"]
            raise TypeError(f"kl_per_modality must be True or False, got {got!r}")
        if out.get("alpha") is not None:
            out["alpha"] = check_alpha(out["alpha"])
        return out

    def prepare(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Options under the caller's (scheduled) keywords, validated."""
        args, kwargs = super().prepare(args, kwargs)
        # the options were checked when built: an unknown name here is a scheduled value
        check_scheduled({k: v for k, v in kwargs.items() if k not in self.defaults})
        return args, self.check_options(kwargs)


__all__ = ["MultimodalVAEObjective", "check_beta", "check_scheduled"]

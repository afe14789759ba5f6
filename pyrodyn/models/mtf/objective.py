"""MTF's objective: the ELBO of its model/guide pair with the MTF recipe as options.

The loss is ``MeanFieldELBO`` of :class:`~pyrodyn.models.mtf.MTF`'s model and guide (the latent
site's term is minus the encoder entropy in closed form under the flat prior); the recipe (loss
weights, input noise) lives here as options, never in the model constructor. Per evaluation,
:meth:`MTFObjective.prepare` validates the keyword values and draws the input noise once, so model
and guide see the same noisy encoder inputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

from pyro.infer.elbo import ELBO

from pyrodyn.models.mtf.recipe import KEYS, WEIGHTS, InputNoise, Recipe
from pyrodyn.objectives.elbo import MeanFieldELBO

#: Keyword arguments of Pyro's ELBO (num_particles, vectorize_particles, ...).
PYRO_ELBO_ARGS = tuple(n for n in inspect.signature(ELBO.__init__).parameters if n != "self")
#: Defaults of the recipe options (specs/mtf.md 1.6: unit weights, input noise 0.01).
DEFAULTS: dict[str, float] = {**{w: 1.0 for w in WEIGHTS}, "input_noise": 0.01}


def check_options(owner: str, options: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    """Raises ``TypeError`` for unknown option names and ``ValueError`` for negative values."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(
            f"{owner} got unknown options {unknown}; valid options are {list(valid)} (and Pyro's "
            f"ELBO arguments {list(PYRO_ELBO_ARGS)})"
        )
    for name, value in options.items():
        if value is not None and float(value) < 0:
            raise ValueError(f"{owner} option {name} must be >= 0, got {value}")


class MTFObjective(MeanFieldELBO):
    """The MTF objective (specs/mtf.md 1.5, 7.1) with its recipe as options.

    ``model.loss(batch)`` is this ELBO of ``model.model`` / ``model.guide`` per observed
    sequence step: ``rec_weight · nll.<m> + obs_weight · obs.<m> + lat_weight · lat +
    entropy_weight · kl.latent [+ fusion_weight · fusion]`` with ``kl.latent = −H(q)``. Every
    option can also be scheduled by ``fit`` (a scheduled value overrides the option), as can
    ``alpha`` (generalized forcing) and ``fusion_alpha``.

    Args:
        rec_weight: weight of the reconstruction ``nll.<m>`` (observations under ``z̃``).
        obs_weight: weight of the forced-rollout likelihood ``obs.<m>``.
        lat_weight: weight of the latent consistency ``lat``.
        entropy_weight: weight of the latent site (the encoder entropy).
        fusion_weight: weight of the fusion's coupling term ``fusion`` (MMVM).
        input_noise: sd of the noise added to continuous-modality encoder inputs in training.
        options: the same options as a mapping (keywords win).
        **kwargs: Pyro ELBO arguments (``num_particles``, ``vectorize_particles``, ...).

    Raises:
        TypeError: an unknown option (the message lists the valid ones).
        ValueError: a negative weight or noise (named).
    """

    #: The model-config keys the MTF constructor took before the recipe moved here.
    legacy_model_keys: ClassVar[frozenset[str]] = frozenset(
        {*WEIGHTS, "input_noise", "reference_compat"}
    )
    #: Whether the input noise hits every channel (the reference quirk) or continuous ones only.
    noise_every_channel: ClassVar[bool] = False
    #: The option defaults (a subclass may change them, e.g. BPTT-TF's).
    defaults: ClassVar[Mapping[str, float]] = DEFAULTS

    def __init__(
        self,
        *,
        rec_weight: float | None = None,
        obs_weight: float | None = None,
        lat_weight: float | None = None,
        entropy_weight: float | None = None,
        fusion_weight: float | None = None,
        input_noise: float | None = None,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        valid = tuple(self.defaults)
        extra = sorted(set(kwargs) - set(PYRO_ELBO_ARGS))
        check_options(name, {k: 0 for k in extra}, valid)
        given = {
            "rec_weight": rec_weight,
            "obs_weight": obs_weight,
            "lat_weight": lat_weight,
            "entropy_weight": entropy_weight,
            "fusion_weight": fusion_weight,
            "input_noise": input_noise,
        }
        merged = {**self.defaults, **dict(options or {})}
        merged.update({k: v for k, v in given.items() if v is not None})
        check_options(name, merged, valid)
        super().__init__(options={k: float(v) for k, v in merged.items()}, **kwargs)

    @classmethod
    def legacy_spec(cls, moved: Mapping[str, Any]) -> dict[str, Any]:
        """The ``objective:`` spec of an old run's model keys (``reference_compat`` -> parity)."""
        rest = dict(moved)
        compat = bool(rest.pop("reference_compat", False))
        # the parity objective by name: reference.py imports this module
        return {"type": "MTFReferenceObjective" if compat else cls.__name__, **rest}

    def prepare(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Options under the caller's values, validated; draws this evaluation's input noise."""
        args, kw = super().prepare(args, kwargs)
        recipe = Recipe.parse(kw, f"{type(self).__name__} (model.loss)")
        if recipe.noise is None and recipe.input_noise > 0:
            kw["noise"] = InputNoise(recipe.input_noise, every_channel=self.noise_every_channel)
        return args, kw


__all__ = ["DEFAULTS", "KEYS", "PYRO_ELBO_ARGS", "MTFObjective", "check_options"]

"""LaDID's training objective: multiple-shooting windows around the ELBO of the model/guide pair.

:class:`LaDIDObjective` is a :class:`~pyrodyn.objectives.elbo.TraceELBO` whose
:meth:`~LaDIDObjective.prepare` cuts each batch into multiple-shooting windows before model and
guide see it (spec ladid 1.8; the horizon is the scheduled keyword ``horizon``), draws the start
of the stretch the constants encoders read (``constants_crop``) and the frames scored per window
(``frames_per_window``), and hands model and guide the window batch with ``constants_start``,
``frames`` and ``pairs``. Everything else is the pair's own: the loss is the negative ELBO of the
windows plus the model's weighted ``pyro.factor`` regularisers ``reg.embedding``,
``reg.overlap`` and ``reg.fusion``, whose weights are options of this objective (and may be
scheduled like any model keyword). ``model.loss`` divides it by the number of scored window steps
(:meth:`LaDID.normaliser <pyrodyn.models.ladid.model.LaDID.normaliser>`).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pyro.infer.elbo import ELBO

from pyrodyn.models.base import BoundPair
from pyrodyn.models.ladid.windows import cut_windows, draw_crops, draw_frames
from pyrodyn.objectives.elbo import TraceELBO

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyrodyn.models.ladid.model import LaDID

#: Keyword arguments of Pyro's ELBO constructor (``num_particles``, ``vectorize_particles``, ...).
ELBO_ARGUMENTS = frozenset(inspect.signature(ELBO.__init__).parameters) - {"self"}

#: LaDID's recipe options and their defaults (the reference code's, spec ladid 1.9).
DEFAULTS: dict[str, Any] = {
    "windows_per_sequence": 2,
    "embedding_weight": 1.0,
    "overlap": 0,
    "overlap_weight": 0.0,
    "overlap_scale": 0.1,
    "score_context": True,
    "constants_crop": False,
    "frames_per_window": None,
    "fusion_weight": 1.0,
}

#: Options :meth:`LaDIDObjective.prepare` consumes (the others reach model and guide).
WINDOW_OPTIONS = frozenset({"windows_per_sequence", "constants_crop", "frames_per_window"})


def ladid_of(pair: Any, objective: str) -> LaDID:
    """The LaDID whose ``model.model`` / ``model.guide`` is ``pair`` (TypeError otherwise)."""
    owner = pair.owner if isinstance(pair, BoundPair) else None
    # a LaDID declares this objective family as its default (no import of the model module,
    # which imports this one)
    if owner is None or not issubclass(owner.default_objective, LaDIDObjective):
        raise TypeError(
            f"{objective} trains a LaDID's own pair (model.model, model.guide), got {pair!r}"
        )
    return owner


def _nonnegative_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"LaDID objective option {name} must be an int >= {low}, got {value!r}")
    return value


def _nonnegative(name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"LaDID objective option {name} must be a number, got {value!r}")
    if value < 0 or (positive and not value > 0):
        need = "> 0" if positive else ">= 0"
        raise ValueError(f"LaDID objective option {name} must be {need}, got {value!r}")
    return float(value)


class LaDIDObjective(TraceELBO):
    """The ELBO of LaDID's pair on multiple-shooting windows, plus its weighted regularisers.

    Args:
        windows_per_sequence: windows drawn per sequence per evaluation (all when fewer fit).
        embedding_weight: weight of ``reg.embedding`` (LaDID's "l_emb"; 0 turns it off). Needs
            an unsplit code whose size equals the latent size.
        overlap: o, query steps shared by consecutive windows (0: no ``reg.overlap``).
        overlap_weight: weight of ``reg.overlap``.
        overlap_scale: s of ``N(z_b(t) | z_{b+1}(t), s^2)`` (LaDID: 0.1).
        score_context: also score the context frames (the ELBO of the whole window); False
            scores only the query frames (the reference).
        constants_crop: with ``state_encoders``, the constants encoders read ``context`` frames
            from a random step of each window instead of the context (the guide then depends on
            a random crop; averaged over crops it is still a proper ELBO). Forecasts always read
            the context.
        frames_per_window: S, decode and score only S frames per window, drawn uniformly without
            replacement and weighted by ``L / S`` (an unbiased estimate of the window's
            log-likelihood; None scores every frame). Not with ``reg.embedding`` or
            ``reg.overlap``, which need every step.
        fusion_weight: weight of the fusion's regulariser ``reg.fusion`` (MMVM's KL to its
            mixture prior).
        options: further default keywords of model and guide (e.g. ``beta``, a fusion's
            ``alpha``); recipe options may be given here too.
        **elbo_args: Pyro ELBO arguments (``num_particles``, ``vectorize_particles``, ...).

    Raises:
        TypeError: an unknown option (the message lists the valid ones).
        ValueError: a negative or malformed option, or incompatible options.
    """

    #: The recipe options of this objective and their defaults.
    defaults: ClassVar[dict[str, Any]] = DEFAULTS
    #: Model-config keys that moved from ``LaDID(...)`` into the objective's options.
    legacy_model_keys: ClassVar[frozenset[str]] = frozenset(
        {*DEFAULTS, "reference_compat", "reference_obs_scale", "reference_num_train"}
    ) - {"fusion_weight"}
    #: Whether ``model.loss`` divides by the number of scored window steps.
    per_step: ClassVar[bool] = True

    def __init__(
        self,
        *,
        windows_per_sequence: int = 2,
        embedding_weight: float = 1.0,
        overlap: int = 0,
        overlap_weight: float = 0.0,
        overlap_scale: float = 0.1,
        score_context: bool = True,
        constants_crop: bool = False,
        frames_per_window: int | None = None,
        fusion_weight: float = 1.0,
        options: Mapping[str, Any] | None = None,
        **elbo_args: Any,
    ) -> None:
        unknown = sorted(set(elbo_args) - ELBO_ARGUMENTS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown option(s) {unknown}; valid options: "
                f"{sorted(self.defaults)} (and Pyro ELBO arguments {sorted(ELBO_ARGUMENTS)})"
            )
        given = {
            "windows_per_sequence": windows_per_sequence,
            "embedding_weight": embedding_weight,
            "overlap": overlap,
            "overlap_weight": overlap_weight,
            "overlap_scale": overlap_scale,
            "score_context": score_context,
            "constants_crop": constants_crop,
            "frames_per_window": frames_per_window,
            "fusion_weight": fusion_weight,
        }
        merged = {**given, **dict(options or {})}
        self.check_options(merged)
        super().__init__(options=merged, **elbo_args)
        self._owner_ref: weakref.ReferenceType[LaDID] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # the model reference lives for one evaluation only (and weak references do not pickle)
        return {**self.__dict__, "_owner_ref": None}

    # ------------------------------------------------------------------ options
    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Validates the recipe options (ValueError naming the option)."""
        o = options
        _nonnegative_int("windows_per_sequence", o["windows_per_sequence"], 1)
        _nonnegative_int("overlap", o["overlap"], 0)
        for name in ("embedding_weight", "overlap_weight", "fusion_weight"):
            _nonnegative(name, o[name])
        _nonnegative("overlap_scale", o["overlap_scale"], positive=True)
        for name in ("score_context", "constants_crop"):
            if not isinstance(o[name], bool):
                raise ValueError(f"LaDID objective option {name} must be a bool, got {o[name]!r}")
        fpw = o["frames_per_window"]
        if fpw is not None:
            if isinstance(fpw, bool) or not isinstance(fpw, int) or fpw < 1:
                raise ValueError(f"frames_per_window must be >= 1, got {fpw!r}")
            if o["embedding_weight"] > 0 or (o["overlap"] > 0 and o["overlap_weight"] > 0):
                raise ValueError(
                    "frames_per_window scores a subset of each window's frames; reg.embedding "
                    "and reg.overlap need them all (set embedding_weight=0, overlap_weight=0)"
                )

    def check_model(self, model: LaDID) -> None:
        """Validates the options against a model's structure (ValueError naming the option)."""
        o = self.options
        if o["constants_crop"] and not model.state_dim:
            raise ValueError(
                "constants_crop needs state_encoders: without a state part nothing would tell "
                "the dynamics the window's initial condition"
            )
        if o["embedding_weight"] > 0 and model.state_dim:
            raise ValueError(
                "reg.embedding scores latents under the per-frame tokens of the constants "
                "encoders, which do not describe a split code; use embedding_weight=0 with "
                "state_encoders"
            )
        if o["embedding_weight"] > 0 and model.code_dim != model.latent_dim:
            raise ValueError(
                f"reg.embedding compares latents (size {model.latent_dim}) with token Gaussians "
                f"(size {model.code_dim}); use equal sizes or embedding_weight=0"
            )

    @property
    def is_elbo(self) -> bool:
        """Whether the objective is a negative ELBO (no regulariser on)."""
        o = self.options
        return not (o["embedding_weight"] > 0 or (o["overlap"] > 0 and o["overlap_weight"] > 0))

    @property
    def query_only(self) -> bool:
        """Whether only the query frames of a window are scored (``score_context=False``)."""
        return not self.options["score_context"]

    @classmethod
    def legacy_spec(cls, moved: Mapping[str, Any]) -> dict[str, Any]:
        """The ``objective:`` spec of an old run's model keys.

        ``reference_compat: true`` selects
        :class:`~pyrodyn.models.ladid.reference.LaDIDReferenceObjective` (its
        ``reference_obs_scale``/``reference_num_train`` become ``obs_scale``/``num_train``).
        """
        spec = dict(moved)
        reference = bool(spec.pop("reference_compat", False))
        obs_scale = spec.pop("reference_obs_scale", None)
        num_train = spec.pop("reference_num_train", None)
        if not reference:
            return {"type": "LaDIDObjective", **spec}
        if obs_scale is not None:
            spec["obs_scale"] = obs_scale
        if num_train is not None:
            spec["num_train"] = num_train
        return {"type": "LaDIDReferenceObjective", **spec}

    # ------------------------------------------------------------------ the recipe
    def _get_traces(self, model: Any, guide: Any, args: Any, kwargs: Any) -> Iterator:
        self._owner_ref = weakref.ref(ladid_of(model, type(self).__name__))
        yield from super()._get_traces(model, guide, args, kwargs)

    def prepare(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Windows of the batch and the random parts of the recipe, drawn once per evaluation.

        Returns:
            ``((windows, ...), kwargs)`` with ``constants_start`` ``(N,)`` or None, ``frames``
            ``(N, S)`` or None and ``pairs`` ``(P, 2)`` or None added, the window options and
            ``horizon`` consumed.
        """
        args, kwargs = super().prepare(args, kwargs)
        model = None if self._owner_ref is None else self._owner_ref()
        if model is None:
            raise RuntimeError(f"{type(self).__name__}.prepare runs inside a loss evaluation")
        if not args:
            raise TypeError(f"{type(self).__name__} needs the batch as first argument")
        self.check_model(model)
        batch = args[0]
        model.check_batch(batch)
        horizon = kwargs.pop("horizon", None)
        recipe = {k: kwargs.pop(k) for k in WINDOW_OPTIONS}
        overlap = int(kwargs["overlap"])
        windows, pairs = cut_windows(
            batch,
            model.context,
            horizon,
            overlap=overlap,
            windows_per_sequence=recipe["windows_per_sequence"],
            pair_windows=overlap > 0 and kwargs["overlap_weight"] > 0,
        )
        start = draw_crops(windows, model.context) if recipe["constants_crop"] else None
        frames = draw_frames(windows, recipe["frames_per_window"])
        kwargs.update(constants_start=start, frames=frames, pairs=pairs)
        return (windows, *args[1:]), kwargs


__all__ = ["DEFAULTS", "ELBO_ARGUMENTS", "LaDIDObjective", "ladid_of"]

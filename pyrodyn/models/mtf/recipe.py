"""The MTF training recipe as keyword arguments of model and guide (loss weights, input noise).

The recipe is not part of the model: :class:`~pyrodyn.models.mtf.objective.MTFObjective` holds
its defaults as options, ``fit`` schedules override them per step, and model and guide read the
values they receive (:class:`Recipe`). Calling ``model.model`` / ``model.guide`` directly (an
AutoGuide, ``Predictive``) uses the neutral values: unit weights, no input noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from pyrodyn.likelihoods.base import Likelihood

#: Loss weights of the MTF terms.
WEIGHTS = ("rec_weight", "obs_weight", "lat_weight", "entropy_weight", "fusion_weight")
#: Scheduled values of the model's structure (forcing strength, the fusion's own alpha).
STRUCTURE = ("alpha", "fusion_alpha")
#: Every keyword model and guide accept.
KEYS = (*WEIGHTS, "input_noise", "noise", *STRUCTURE)


class InputNoise:
    """Additive Gaussian noise on encoder inputs, drawn once per loss evaluation.

    The objective creates one per evaluation (:meth:`MTFObjective.prepare`), so model and guide
    see the same draws (common random numbers): the first request for a modality draws
    ``scale * N(0, I)`` from the global RNG, later requests return the same draw.

    Args:
        scale: the noise sd (0: no noise).
        every_channel: noise every modality (the reference code's quirk) instead of only the
            continuous ones (likelihood trait ``continuous``).
    """

    def __init__(self, scale: float, *, every_channel: bool = False) -> None:
        if not float(scale) >= 0:
            raise ValueError(f"input_noise must be >= 0, got {scale}")
        self.scale = float(scale)
        self.every_channel = bool(every_channel)
        self._draws: dict[str, Tensor] = {}

    def applies(self, likelihood: Likelihood) -> bool:
        """Whether inputs of a modality with this likelihood are noised."""
        return self.scale > 0 and (self.every_channel or likelihood.continuous)

    def __call__(self, modality: str, x: Tensor) -> Tensor:
        """``x`` plus this evaluation's noise draw of ``modality``."""
        draw = self._draws.get(modality)
        if draw is None or draw.shape != x.shape:
            draw = self.scale * torch.randn_like(x)
            self._draws[modality] = draw
        return x + draw


@dataclass(frozen=True)
class Recipe:
    """The keyword arguments of MTF's model and guide, validated.

    Attributes:
        rec_weight: weight of the reconstruction (observe sites under the encoder latent).
        obs_weight: weight of the forced-rollout likelihood factors ``obs.<modality>``.
        lat_weight: weight of the latent-consistency factor ``lat``.
        entropy_weight: weight of the latent site (the encoder entropy under the flat prior).
        fusion_weight: weight of the fusion's coupling factor ``fusion``.
        input_noise: sd of the encoder input noise (training mode only).
        noise: this evaluation's draws (:class:`InputNoise`), shared by model and guide.
        alpha: generalized forcing strength (None or 1: sparse identity forcing).
        fusion_alpha: the fusion's own ``alpha`` (e.g. MMVM's N(0, I) weight).
    """

    rec_weight: float = 1.0
    obs_weight: float = 1.0
    lat_weight: float = 1.0
    entropy_weight: float = 1.0
    fusion_weight: float = 1.0
    input_noise: float = 0.0
    noise: InputNoise | None = None
    alpha: Any = None
    fusion_alpha: Any = None

    @classmethod
    def parse(cls, values: Mapping[str, Any], where: str = "MTF") -> Recipe:
        """Validates keyword values.

        Raises:
            TypeError: an unknown name (the message lists the valid ones).
            ValueError: a negative weight or input noise (named).
        """
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise TypeError(
                f"{where} got unknown scheduled values {unknown}; it accepts {list(KEYS)}"
            )
        kw = dict(values)
        for name in (*WEIGHTS, "input_noise"):
            if kw.get(name) is None:
                kw.pop(name, None)
                continue
            kw[name] = float(kw[name])
            if kw[name] < 0:
                raise ValueError(f"scheduled {name} must be >= 0, got {kw[name]}")
        return cls(**kw)

    def draws(self) -> InputNoise | None:
        """The noise draws: the shared ones, or fresh ones for ``input_noise`` > 0."""
        if self.noise is not None:
            return self.noise
        return InputNoise(self.input_noise) if self.input_noise > 0 else None


__all__ = ["KEYS", "STRUCTURE", "WEIGHTS", "InputNoise", "Recipe"]

"""The batch every model consumes: observations, masks, times and ground truth."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor


@dataclass
class MultimodalBatch:
    """A batch of multimodal sequences (or static samples).

    NaN entries of the raw data have already been replaced by a placeholder (0) and recorded in
    ``mask``; likelihoods never see a NaN. A whole missing modality is an all-False mask.

    Attributes:
        obs: modality -> observations, ``(batch, time, *feature_shape)`` for sequences or
            ``(batch, *feature_shape)`` when ``static``.
        mask: modality -> bool tensor of the same shape as ``obs[m]``; True where observed.
        times: time stamps ``(batch, time)`` (None for static data); batches cut from a
            dataset start every row at 0 (see ``time_origin``).
        lengths: valid length of each sequence ``(batch,)`` (long); later steps are padding.
        inputs: external inputs ``(batch, time, input_dim)`` or None.
        extras: ground truth and labels (``true_*``, ``label*``), first dim ``batch``.
        static: True when samples carry no time axis.
        index: trial index of each row in the dataset it came from ``(batch,)`` (or None).
        start: step of the source trial at which each row starts ``(batch,)`` (long; windows
            of a recording), or None (whole trials, or unknown).
        observed: whether the model conditions on ``obs`` (False: the guide still reads the
            data, the model samples every observe site; see :meth:`without_observations`).
        time_origin: absolute time of each row's first step ``(batch,)``, float64 (never cast
            to the model dtype); ``time_origin[:, None] + times`` are the absolute stamps.
            None: ``times`` are absolute.
    """

    obs: dict[str, Tensor]
    mask: dict[str, Tensor]
    times: Tensor | None = None
    lengths: Tensor | None = None
    inputs: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)
    static: bool = False
    index: Tensor | None = None
    start: Tensor | None = None
    observed: bool = True
    time_origin: Tensor | None = None

    def __post_init__(self) -> None:
        if not self.obs:
            raise ValueError("MultimodalBatch needs at least one modality in `obs`, got none")
        if set(self.obs) != set(self.mask):
            raise ValueError(
                f"obs and mask must name the same modalities, got {sorted(self.obs)} and "
                f"{sorted(self.mask)}"
            )
        sizes = {m: x.shape[0] for m, x in self.obs.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"all modalities need the same batch size, got {sizes}")
        for m, x in self.obs.items():
            if self.mask[m].shape != x.shape:
                raise ValueError(
                    f"mask of modality {m!r} has shape {tuple(self.mask[m].shape)}, expected "
                    f"{tuple(x.shape)}"
                )

    @classmethod
    def from_tensors(
        cls,
        data: Mapping[str, Tensor],
        *,
        static: bool = False,
        times: Tensor | None = None,
        lengths: Tensor | None = None,
        inputs: Tensor | None = None,
        extras: Mapping[str, Tensor] | None = None,
        time_origin: Tensor | None = None,
    ) -> MultimodalBatch:
        """Builds a batch from raw tensors in which NaN marks missing entries.

        Args:
            data: modality -> ``(batch, time, *feature_shape)`` (or ``(batch, *feature_shape)``
                when ``static``); NaN entries are missing.
            static: True for samples without a time axis.
            times: ``(time,)`` or ``(batch, time)`` time stamps; default ``0, 1, 2, ...``.
            lengths: ``(batch,)`` valid lengths.
            inputs: ``(batch, time, input_dim)`` external inputs.
            extras: ``true_*`` / ``label*`` arrays with first dimension ``batch``.
            time_origin: ``(batch,)`` absolute start of each row when ``times`` are relative.
        """
        obs, mask = {}, {}
        for m, x in data.items():
            x = torch.as_tensor(x)
            if not x.is_floating_point():
                x = x.to(torch.get_default_dtype())
            observed = ~torch.isnan(x)
            obs[m] = torch.where(observed, x, torch.zeros_like(x))
            mask[m] = observed
        first = next(iter(obs.values()))
        if not static and times is None:
            times = torch.arange(first.shape[1], dtype=first.dtype, device=first.device)
        if times is not None and times.dim() == 1:
            times = times.expand(first.shape[0], -1)
        return cls(
            obs=obs,
            mask=mask,
            times=times,
            lengths=lengths,
            inputs=inputs,
            extras=dict(extras or {}),
            static=static,
            time_origin=time_origin,
        )

    def absolute_times(self) -> Tensor | None:
        """Absolute time stamps ``(batch, time)`` in float64 (``time_origin`` added back)."""
        if self.times is None:
            return None
        if self.time_origin is None:
            return self.times.double()
        return self.time_origin.to(self.times.device)[:, None] + self.times.double()

    @property
    def modalities(self) -> list[str]:
        """The modality names, in insertion order."""
        return list(self.obs)

    @property
    def num_sequences(self) -> int:
        """Batch size (number of sequences or samples)."""
        return next(iter(self.obs.values())).shape[0]

    @property
    def num_steps(self) -> int | None:
        """Number of time steps (None for static data)."""
        if self.static:
            return None
        return next(iter(self.obs.values())).shape[1]

    @property
    def device(self) -> torch.device:
        """Device of the observations."""
        return next(iter(self.obs.values())).device

    def feature_shape(self, modality: str) -> tuple[int, ...]:
        """Per-step (or per-sample) feature shape of one modality."""
        lead = 1 if self.static else 2
        return tuple(self.obs[modality].shape[lead:])

    def present(self, modality: str) -> Tensor:
        """Whether a modality has any observed entry, per sequence ``(batch,)`` bool."""
        m = self.mask[modality]
        return m.reshape(m.shape[0], -1).any(dim=1)

    def step_mask(self, modality: str) -> Tensor:
        """Whether a modality has any observed entry at each step ``(batch, time)`` bool."""
        if self.static:
            raise ValueError("step_mask is undefined for static data (no time axis)")
        m = self.mask[modality]
        return m.reshape(m.shape[0], m.shape[1], -1).any(dim=2)

    def valid_steps(self) -> Tensor:
        """``(batch, time)`` bool: steps inside each sequence's length (all True if no lengths)."""
        if self.static:
            raise ValueError("valid_steps is undefined for static data (no time axis)")
        b, t = self.num_sequences, self.num_steps
        steps = torch.arange(t, device=self.device).expand(b, t)
        if self.lengths is None:
            return torch.ones(b, t, dtype=torch.bool, device=self.device)
        return steps < self.lengths.to(self.device)[:, None]

    def items(self) -> Iterator[tuple[str, Tensor, Tensor]]:
        """Iterates ``(modality, obs, mask)``."""
        for m in self.obs:
            yield m, self.obs[m], self.mask[m]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> MultimodalBatch:
        """A copy on another device (floating tensors optionally cast to ``dtype``)."""

        def move(x: Tensor | None) -> Tensor | None:
            if x is None:
                return None
            if dtype is not None and x.is_floating_point():
                return x.to(device=device, dtype=dtype)
            return x.to(device)

        return replace(
            self,
            obs={m: move(x) for m, x in self.obs.items()},
            mask={m: move(x) for m, x in self.mask.items()},
            times=move(self.times),
            lengths=move(self.lengths),
            inputs=move(self.inputs),
            extras={k: move(v) for k, v in self.extras.items()},
            index=move(self.index),
            start=move(self.start),
            # float64 on purpose: a float32 origin would reintroduce the rounding it avoids
            time_origin=None if self.time_origin is None else self.time_origin.to(device),
        )

    def select(self, modalities: list[str] | tuple[str, ...]) -> MultimodalBatch:
        """A batch restricted to some modalities (for single-modality baselines)."""
        unknown = [m for m in modalities if m not in self.obs]
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; the batch has {self.modalities}")
        return replace(
            self,
            obs={m: self.obs[m] for m in modalities},
            mask={m: self.mask[m] for m in modalities},
        )

    def drop(self, modality: str, rows: Tensor | None = None) -> MultimodalBatch:
        """A copy in which ``modality`` is missing (in all rows, or where ``rows`` is True)."""
        if modality not in self.obs:
            raise ValueError(f"unknown modality {modality!r}; the batch has {self.modalities}")
        mask = dict(self.mask)
        if rows is None:
            mask[modality] = torch.zeros_like(self.mask[modality])
        else:
            shape = (-1,) + (1,) * (self.mask[modality].dim() - 1)
            mask[modality] = self.mask[modality] & ~rows.reshape(shape).to(self.device)
        return replace(self, mask=mask)

    def without_observations(self) -> MultimodalBatch:
        """A copy whose observe sites the model samples instead of conditioning on.

        The guide still encodes ``obs``; ``Predictive(model.model, guide=model.guide, ...)``
        on this batch returns replicated observations ``(S, B, [T,] *features)`` per modality.
        """
        return replace(self, observed=False)

    def _with_index(self, index: Tensor) -> MultimodalBatch:
        self.index = index
        return self

    def __getitem__(self, rows: Tensor | slice) -> MultimodalBatch:
        """Rows of the batch (index tensor, boolean tensor or slice)."""

        def take(x: Tensor | None) -> Tensor | None:
            return None if x is None else x[rows]

        return replace(
            self,
            obs={m: x[rows] for m, x in self.obs.items()},
            mask={m: x[rows] for m, x in self.mask.items()},
            times=take(self.times),
            lengths=take(self.lengths),
            inputs=take(self.inputs),
            extras={k: v[rows] for k, v in self.extras.items()},
            index=take(self.index),
            start=take(self.start),
            time_origin=take(self.time_origin),
        )

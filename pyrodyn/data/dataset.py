"""Multimodal datasets built from arrays or ``.npz`` files (the data contract of DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.checks import (
    RESERVED_KEYS,
    RESERVED_PREFIXES,
    as_float_array,
    check_dt,
    check_extras,
    check_ranks,
    check_sizes,
    is_reserved,
    read_npz,
    resolve_inputs,
    resolve_lengths,
    resolve_time,
)
from pyrodyn.data.standardizer import Standardizer
from pyrodyn.exceptions import DataError, DataTypeError, PyrodynError, ShapeError

__all__ = ["RESERVED_KEYS", "RESERVED_PREFIXES", "MultimodalDataset", "is_reserved"]


class MultimodalDataset:
    """Several modalities of one system, as trials of equal (NaN-padded) length.

    Arrays are ``(trials, time, *feature_shape)``; a single recording ``(time, features)`` becomes
    one trial; with ``static=True`` arrays are ``(samples, *feature_shape)``. NaN marks missing
    entries. Reserved keys: ``time`` (``(time,)`` or ``(trials, time)``), ``lengths``
    (``(trials,)``), ``inputs`` (``(trials, time, input_dim)``), ``true_*`` and ``label*``.
    Modalities are stored in float32, time stamps in float64 (batches make them relative to
    their window's start before the cast, so windows of a long recording keep a regular grid).
    Bad inputs raise a :class:`~pyrodyn.exceptions.PyrodynError` naming the array: ``ShapeError``
    for shapes, ``DataError`` for values (a modality that is all NaN, non-finite time stamps,
    ``dt`` or inputs, fractional lengths), ``DataTypeError`` for non-numeric or complex dtypes.

    Args:
        arrays: modality name -> array.
        static: True when samples have no time axis.
        time: time stamps ``(time,)`` or ``(trials, time)``; default ``dt * arange(time)``.
        lengths: valid length per trial ``(trials,)``; default: up to the last observed step.
        inputs: external inputs ``(trials, time, input_dim)``.
        extras: ``true_*`` / ``label*`` arrays, first dimension trials (or time for a recording).
        dt: time step used when ``time`` is not given.
        standardizer: the standardisation already applied to ``arrays`` (if any).
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray | Tensor],
        *,
        static: bool = False,
        time: np.ndarray | Tensor | None = None,
        lengths: np.ndarray | Tensor | None = None,
        inputs: np.ndarray | Tensor | None = None,
        extras: Mapping[str, np.ndarray | Tensor] | None = None,
        dt: float = 1.0,
        standardizer: Standardizer | None = None,
    ) -> None:
        if not isinstance(arrays, Mapping):
            raise DataTypeError(
                f"arrays must map modality names to arrays, got {type(arrays).__name__}"
            )
        if not arrays:
            raise DataError("a dataset needs at least one modality; got no arrays")
        self.static = bool(static)
        self.dt = check_dt(dt)
        self.standardizer = standardizer
        self.single_recording = False
        data = {m: as_float_array(m, a, what=f"modality {m!r}") for m, a in arrays.items()}
        check_ranks(data, self.static)
        if not self.static and all(a.ndim == 2 for a in data.values()):
            # one long recording (time, features): a single trial
            self.single_recording = True
            data = {m: a[None] for m, a in data.items()}
        check_sizes(data, self.static)
        self.data: dict[str, Tensor] = {m: torch.from_numpy(a) for m, a in data.items()}
        n, t = self.num_trials, self.num_steps
        self.extras: dict[str, Tensor] = check_extras(extras or {}, n, self.single_recording)
        self.lengths = None if self.static else resolve_lengths(self.data, lengths, n, t)
        self.time = None if self.static else resolve_time(time, n, t, self.dt)
        self.inputs = None
        if inputs is not None:
            if self.static:
                raise ShapeError("array 'inputs' is undefined for static data (no time axis)")
            self.inputs = resolve_inputs(inputs, self.lengths, t, self.single_recording)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_npz(
        cls,
        path: str | os.PathLike,
        modalities: Sequence[str] | None = None,
        *,
        static: bool = False,
        dt: float = 1.0,
    ) -> MultimodalDataset:
        """Loads an ``.npz`` file with one array per modality plus reserved keys.

        Args:
            path: the file.
            modalities: which arrays are modalities (default: every non-reserved key).
            static: True for samples without a time axis.
            dt: time step when the file has no ``time`` array.

        Only the modalities and the reserved arrays are read (never unpickled), so other keys,
        even object arrays, do not matter.

        Raises:
            FileNotFoundError: the file does not exist.
            DataError: the file is no readable ``.npz`` archive, a requested modality is absent
                (the message lists what the file holds) or an array it uses cannot be read.
            PyrodynError: as the constructor; every message names the file.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"data file {path!r} does not exist")
        contents, modalities = read_npz(path, modalities)
        try:
            return cls(
                {m: contents[m] for m in modalities},
                static=static,
                time=contents.get("time"),
                lengths=contents.get("lengths"),
                inputs=contents.get("inputs"),
                extras={k: v for k, v in contents.items() if k.startswith(RESERVED_PREFIXES)},
                dt=dt,
            )
        except PyrodynError as err:
            # the same class (callers may catch ShapeError, TypeError, ...), the file named
            raise type(err)(f"data file {path!r}: {err}") from err

    def to_npz(self, path: str | os.PathLike) -> None:
        """Writes the dataset (missing entries as NaN) in the ``.npz`` data contract."""
        out: dict[str, np.ndarray] = {m: x.numpy() for m, x in self.data.items()}
        if self.single_recording:
            out = {m: x[0] for m, x in out.items()}
        if self.time is not None:
            out["time"] = self.time.numpy()[0] if self.single_recording else self.time.numpy()
        if self.lengths is not None and not self.single_recording:
            out["lengths"] = self.lengths.numpy()
        if self.inputs is not None:
            out["inputs"] = self.inputs.numpy()[0] if self.single_recording else self.inputs.numpy()
        for k, v in self.extras.items():
            out[k] = v.numpy()[0] if self.single_recording else v.numpy()
        np.savez(path, **out)

    # ------------------------------------------------------------------ properties
    @property
    def modalities(self) -> list[str]:
        """Modality names."""
        return list(self.data)

    @property
    def num_trials(self) -> int:
        """Number of trials (or samples)."""
        return next(iter(self.data.values())).shape[0]

    @property
    def num_steps(self) -> int | None:
        """Padded trial length (None for static data)."""
        return None if self.static else next(iter(self.data.values())).shape[1]

    def feature_shape(self, modality: str) -> tuple[int, ...]:
        """Per-step feature shape of a modality."""
        return tuple(self.data[modality].shape[1 if self.static else 2 :])

    def __len__(self) -> int:
        return self.num_trials

    def __repr__(self) -> str:
        shapes = {m: tuple(x.shape) for m, x in self.data.items()}
        return f"MultimodalDataset({shapes}, static={self.static}, dt={self.dt})"

    # ------------------------------------------------------------------ transforms
    def subset(self, trials: Tensor | Sequence[int]) -> MultimodalDataset:
        """A dataset of some trials."""
        idx = torch.as_tensor(trials, dtype=torch.long)
        return self._derived(
            {m: x[idx] for m, x in self.data.items()},
            time=None if self.time is None else self.time[idx],
            lengths=None if self.lengths is None else self.lengths[idx],
            inputs=None if self.inputs is None else self.inputs[idx],
            extras={k: v[idx] for k, v in self.extras.items()},
        )

    def time_slice(self, start: int, stop: int) -> MultimodalDataset:
        """A dataset of steps ``start:stop`` of every trial (time-aligned extras are cut too)."""
        if self.static:
            raise ValueError("time_slice is undefined for static data")
        t = self.num_steps

        def cut(v: Tensor) -> Tensor:
            return v[:, start:stop] if v.dim() >= 2 and v.shape[1] == t else v

        out = self._derived(
            {m: x[:, start:stop] for m, x in self.data.items()},
            time=self.time[:, start:stop],
            lengths=(self.lengths - start).clamp(1, stop - start),
            inputs=None if self.inputs is None else self.inputs[:, start:stop],
            extras={k: cut(v) for k, v in self.extras.items()},
        )
        out.single_recording = self.single_recording
        return out

    def _derived(self, data, *, time, lengths, inputs, extras) -> MultimodalDataset:
        out = MultimodalDataset.__new__(MultimodalDataset)
        out.static, out.dt, out.standardizer = self.static, self.dt, self.standardizer
        out.single_recording = False
        out.data, out.time, out.lengths = data, time, lengths
        out.inputs, out.extras = inputs, extras
        return out

    def split(
        self, valid_fraction: float = 0.1, *, seed: int = 0
    ) -> tuple[MultimodalDataset, MultimodalDataset]:
        """Train/validation split: by trial, or along time for a single recording.

        A single recording keeps its first ``1 - valid_fraction`` of steps for training and the
        tail for validation (windows of the tail then act as validation trials).

        Args:
            valid_fraction: fraction in (0, 1) held out.
            seed: seed of the trial permutation.
        """
        if not 0.0 < valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must lie in (0, 1), got {valid_fraction}")
        if not self.static and self.num_trials == 1:
            cut = round(self.num_steps * (1.0 - valid_fraction))
            if cut < 2 or self.num_steps - cut < 2:
                raise ValueError(
                    f"a recording of {self.num_steps} steps is too short for valid_fraction "
                    f"{valid_fraction}"
                )
            return self.time_slice(0, cut), self.time_slice(cut, self.num_steps)
        n = self.num_trials
        n_valid = round(n * valid_fraction)
        if n_valid < 1 or n_valid >= n:
            raise ValueError(
                f"cannot hold out {valid_fraction:.0%} of {n} trials (gives {n_valid}); need at "
                "least one trial on each side"
            )
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        return self.subset(perm[n_valid:].sort().values), self.subset(perm[:n_valid].sort().values)

    def standardize(
        self, modalities: Sequence[str] | None = None, standardizer: Standardizer | None = None
    ) -> MultimodalDataset:
        """A standardised copy (per feature, observed entries only), recording the map.

        Args:
            modalities: which modalities to standardise (default all); ignored when a
                ``standardizer`` is given.
            standardizer: apply this recorded map instead of estimating one (for held-out data).
        """
        if standardizer is None:
            mods = self.modalities if modalities is None else list(modalities)
            unknown = [m for m in mods if m not in self.data]
            if unknown:
                raise ValueError(f"cannot standardise unknown modalities {unknown}")
            mean, std = {}, {}
            for m in mods:
                x = self.data[m].double()
                flat = x.reshape(-1, *self.feature_shape(m))
                mu = torch.nanmean(flat, dim=0)
                # a feature never observed has no statistics: map it with the identity
                mu = torch.where(torch.isnan(mu), torch.zeros_like(mu), mu)
                sd = torch.sqrt(torch.nanmean((flat - mu) ** 2, dim=0))
                sd = torch.where(sd > 0, sd, torch.ones_like(sd))
                mean[m], std[m] = mu.numpy(), sd.numpy()
            standardizer = Standardizer(mean=mean, std=std)
        data = {
            m: standardizer.forward(m, x.double()).float() if m in standardizer.mean else x
            for m, x in self.data.items()
        }
        out = self._derived(
            data, time=self.time, lengths=self.lengths, inputs=self.inputs, extras=self.extras
        )
        out.single_recording = self.single_recording
        out.standardizer = standardizer
        return out

    # ------------------------------------------------------------------ batches
    def batch(
        self,
        trials: Tensor | Sequence[int] | None = None,
        *,
        start: Tensor | None = None,
        window: int | None = None,
    ) -> MultimodalBatch:
        """A batch of trials, optionally windows ``[start, start + window)`` of them.

        Args:
            trials: trial indices ``(batch,)`` (default: all trials).
            start: window start per row ``(batch,)`` (default 0).
            window: window length (default: the whole trial).

        ``times`` start at 0 in every row: the float64 stamps minus the row's first stamp, cast
        to the data's dtype (absolute float32 stamps of a long recording are not a regular
        grid); ``time_origin`` ``(batch,)`` float64 holds the subtracted absolute start.
        """
        idx = (
            torch.arange(self.num_trials)
            if trials is None
            else torch.as_tensor(trials, dtype=torch.long)
        )
        if self.static:
            return MultimodalBatch.from_tensors(
                {m: x[idx] for m, x in self.data.items()},
                static=True,
                extras={k: v[idx] for k, v in self.extras.items()},
            )._with_index(idx)
        t = self.num_steps
        if window is None and start is None:
            steps = None
        else:
            window = t if window is None else int(window)
            if window < 1 or window > t:
                raise ValueError(f"window must lie in [1, {t}] (the trial length), got {window}")
            s = torch.zeros_like(idx) if start is None else torch.as_tensor(start).long()
            steps = s[:, None] + torch.arange(window)

        def take(x: Tensor) -> Tensor:
            return x[idx] if steps is None else x[idx[:, None], steps]

        def take_extra(v: Tensor) -> Tensor:
            if v.dim() >= 2 and v.shape[1] == t and steps is not None:
                return v[idx[:, None], steps]
            return v[idx]

        lengths = self.lengths[idx]
        if steps is not None:
            lengths = (lengths - steps[:, 0]).clamp(1, window)
        stamps = take(self.time).double()
        origin = stamps[:, 0].clone()
        dtype = next(iter(self.data.values())).dtype
        out = MultimodalBatch.from_tensors(
            {m: take(x) for m, x in self.data.items()},
            times=(stamps - origin[:, None]).to(dtype),
            time_origin=origin,
            lengths=lengths,
            inputs=None if self.inputs is None else take(self.inputs),
            extras={k: take_extra(v) for k, v in self.extras.items()},
        )._with_index(idx)
        out.start = None if steps is None else steps[:, 0].clone()
        return out

    def sample_batch(
        self,
        batch_size: int,
        *,
        window: int | None = None,
        generator: torch.Generator | None = None,
    ) -> MultimodalBatch:
        """Random trials (with replacement) and random windows of length ``window`` within them.

        Windows start uniformly in ``[0, length - window]`` of each trial's valid length.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        idx = torch.randint(self.num_trials, (batch_size,), generator=generator)
        if self.static or window is None:
            return self.batch(idx)
        if window > self.num_steps:
            raise ValueError(f"window {window} is longer than the trials ({self.num_steps} steps)")
        room = (self.lengths[idx] - window).clamp(min=0) + 1
        start = (torch.rand(batch_size, generator=generator) * room).long()
        return self.batch(idx, start=start, window=window)

    def windows(self, window: int, *, stride: int | None = None) -> MultimodalBatch:
        """All consecutive windows of every trial (they act as trials for evaluation)."""
        if self.static:
            raise ValueError("windows are undefined for static data")
        stride = window if stride is None else stride
        rows, starts = [], []
        for i in range(self.num_trials):
            last = int(self.lengths[i]) - window
            for s in range(0, max(last, 0) + 1, stride):
                rows.append(i)
                starts.append(s)
        return self.batch(torch.tensor(rows), start=torch.tensor(starts), window=window)

"""Validation of the arrays and files a `MultimodalDataset` is built from (the data contract).

Every refusal is a :class:`~pyrodyn.exceptions.PyrodynError` (``ShapeError`` for shapes,
``DataError`` for values and files, ``DataTypeError`` for dtypes) whose message names the array
key (the modality for modalities) and the offending value or index; ``from_npz`` adds the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pyrodyn.exceptions import DataError, DataTypeError, ShapeError

RESERVED_KEYS = ("time", "lengths", "inputs")
RESERVED_PREFIXES = ("true_", "label")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def is_reserved(key: str) -> bool:
    """Whether an ``.npz`` key is reserved (time stamps, lengths, inputs, ground truth, labels)."""
    return key in RESERVED_KEYS or key.startswith(RESERVED_PREFIXES)


def _first(bad: np.ndarray) -> tuple[int, ...]:
    """Index of the first True entry of ``bad`` (``()`` for a 0-d array)."""
    return () if bad.ndim == 0 else tuple(int(i[0]) for i in np.nonzero(bad))


def _value(a: np.ndarray, idx: tuple[int, ...]) -> Any:
    """A plain Python scalar for messages (``nan``, ``1e+300``, not ``np.float64(...)``)."""
    return a[idx].item()


# ---------------------------------------------------------------------------- dtypes
def as_numeric(a: Any, what: str) -> np.ndarray:
    """A numpy array of bool, integer or float dtype (``DataTypeError`` naming ``what`` else).

    Args:
        a: an array, tensor or nested sequence.
        what: how messages name it, e.g. ``"modality 'x'"`` or ``"array 'time'"``.
    """
    try:
        if isinstance(a, Tensor):
            if a.is_complex():
                a = a.resolve_conj()  # refused below by its numpy dtype
            a = a.detach().cpu()
            if a.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
                a = a.float()
            a = a.numpy()
        else:
            a = np.asarray(a)
    except (TypeError, ValueError, RuntimeError) as err:  # ragged lists, sparse tensors
        raise DataTypeError(f"{what} is not a numeric array ({err})") from err
    if a.dtype.kind == "c":
        raise DataTypeError(
            f"{what} has complex dtype {a.dtype}; the imaginary part would be dropped (store real "
            "and imaginary parts as separate features)"
        )
    if a.dtype.kind not in "biuf":
        raise DataTypeError(f"{what} must be numeric (bool, integer or float), got dtype {a.dtype}")
    return a


def as_float_array(name: str, a: Any, *, what: str | None = None) -> np.ndarray:
    """A C-contiguous, writable float32 array of a numeric array.

    Raises:
        DataTypeError: non-numeric or complex dtype.
        DataError: a finite value beyond the float32 range (it would become ``inf``).
    """
    what = what or f"array {name!r}"
    a = as_numeric(a, what)
    if a.dtype.kind == "f" and a.dtype.itemsize > 4:
        with np.errstate(invalid="ignore"):
            big = np.abs(a) > _FLOAT32_MAX
        big &= np.isfinite(a)
        if big.any():
            idx = _first(big)
            raise DataError(
                f"{what} holds {_value(a, idx)!r} at index {idx}, beyond the float32 range "
                f"(+-{_FLOAT32_MAX:.3g}) the data are stored in"
            )
    return np.require(a.astype(np.float32, copy=False), requirements=["C", "W"])


# ---------------------------------------------------------------------------- modalities
def check_ranks(data: Mapping[str, np.ndarray], static: bool) -> None:
    """Refuses empty, rank-deficient, infinite or never observed (all-NaN) modality arrays."""
    for m, a in data.items():
        if a.size == 0:
            raise ShapeError(f"modality {m!r} is empty (shape {a.shape})")
        if a.ndim < 2:
            what = (
                "(samples, *feature_shape)"
                if static
                else "(trials, time, *feature_shape) or (time, features)"
            )
            raise ShapeError(f"modality {m!r} has shape {a.shape}; expected {what}")
        bad = np.isinf(a)
        if bad.any():
            idx = _first(bad)
            raise DataError(
                f"modality {m!r} holds a non-finite value other than NaN "
                f"({_value(a, idx)!r} at index {idx}); only NaN may mark missing entries"
            )
        # a never observed modality has no statistics: its standardiser and every prediction
        # derived from it would be NaN
        if np.isnan(a).all():
            raise DataError(
                f"modality {m!r} is all NaN (never observed, shape {a.shape}); drop it from the "
                "data or the configured modalities"
            )
    if not static:
        ranks = {m: a.ndim for m, a in data.items()}
        if len({r == 2 for r in ranks.values()}) > 1:
            raise ShapeError(
                "either every modality is one recording (time, features) or every modality "
                f"is (trials, time, *feature_shape); got ranks {ranks}"
            )


def check_sizes(data: Mapping[str, np.ndarray], static: bool) -> None:
    """Refuses modalities that disagree in trials (or samples) or time length."""
    trials = {m: a.shape[0] for m, a in data.items()}
    if len(set(trials.values())) > 1:
        what = "samples" if static else "trials"
        raise ShapeError(f"modalities have different numbers of {what}: {trials}")
    if not static:
        steps = {m: a.shape[1] for m, a in data.items()}
        if len(set(steps.values())) > 1:
            raise ShapeError(
                f"modalities have different time lengths {steps}; NaN-pad shorter trials to "
                "a common length and give their true lengths in a `lengths` array"
            )


def check_dt(dt: Any) -> float:
    """``dt`` as a float (``DataError`` unless it is a positive finite number)."""
    try:
        value = float(dt)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"dt must be positive and finite, got {dt!r}")
    return value


# ---------------------------------------------------------------------------- reserved arrays
def resolve_lengths(data: Mapping[str, Tensor], lengths: Any | None, n: int, t: int) -> Tensor:
    """Length per trial ``(n,)``: the given ``lengths`` (checked) or the last observed step."""
    if lengths is not None:
        arr = as_numeric(lengths, "array 'lengths'")
        flat = arr.reshape(-1)
        if flat.shape != (n,):
            raise ShapeError(f"array 'lengths' must have shape ({n},), got {arr.shape}")
        if arr.dtype.kind == "f":
            # casting would truncate 9.7 to 9 and turn NaN into an arbitrary integer
            bad = ~(np.isfinite(flat) & (flat == np.floor(flat)))
            if bad.any():
                i = _first(bad)
                raise DataError(
                    f"array 'lengths' must hold integers; got {_value(flat, i)!r} at index {i[0]}"
                )
        out = (flat < 1) | (flat > t)
        if out.any():
            i = _first(out)
            raise DataError(
                f"lengths must lie in [1, {t}] (the trial length); array 'lengths' has "
                f"{_value(flat, i)!r} at index {i[0]}"
            )
        return torch.from_numpy(flat.astype(np.int64))
    # default: up to the last step at which any modality is observed
    observed = torch.zeros(n, t, dtype=torch.bool)
    for x in data.values():
        observed |= ~torch.isnan(x.reshape(n, t, -1)).all(dim=2)
    last = torch.where(observed.any(1), t - observed.flip(1).int().argmax(1), 1)
    return last.long()


def resolve_time(time: Any | None, n: int, t: int, dt: float) -> Tensor:
    """Float64 time stamps ``(n, t)``: the given ``time`` (checked) or regular steps of ``dt``.

    Kept in float64 so that windows of a long recording can be made relative to their start
    before the cast to the model's dtype (float32 stamps near ``t = 1000`` are ``6e-5`` apart).
    """
    if time is None:
        return (torch.arange(t, dtype=torch.float64) * dt).expand(n, t).clone()
    arr = as_numeric(time, "array 'time'").astype(np.float64)
    if arr.shape not in ((t,), (n, t)):
        raise ShapeError(f"array 'time' must be ({t},) or ({n}, {t}), got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = _first(bad)
        raise DataError(
            f"array 'time' holds a non-finite time stamp {_value(arr, idx)!r} at index {idx}"
        )
    tt = np.array(np.broadcast_to(arr, (n, t)), dtype=np.float64)
    bad = np.diff(tt, axis=1) <= 0
    if bad.any():
        i, j = _first(bad)
        raise DataError(
            "time stamps must be strictly increasing within every trial; array 'time' goes from "
            f"{tt[i, j].item()!r} (step {j}) to {tt[i, j + 1].item()!r} (step {j + 1}) in "
            f"trial {i}"
        )
    return torch.from_numpy(tt)


def resolve_inputs(inputs: Any, lengths: Tensor, t: int, single_recording: bool) -> Tensor:
    """External inputs ``(n, t, input_dim)`` float32, finite on every trial's valid steps.

    Non-finite entries after a trial's length (NaN padding) become 0; inside it they are
    refused (silently zeroing a missing input would feed the model a made-up value).
    """
    n = lengths.shape[0]
    u = as_float_array("inputs", inputs)
    given = u.shape
    if single_recording and u.ndim == 2:
        u = u[None]
    if u.ndim != 3 or u.shape[:2] != (n, t):
        raise ShapeError(
            f"array 'inputs' must be (trials, time, input_dim) = ({n}, {t}, ...), got {given}"
        )
    valid = np.arange(t)[None, :, None] < lengths.numpy()[:, None, None]
    bad = ~np.isfinite(u) & valid
    if bad.any():
        idx = _first(bad)
        where = idx[1:] if single_recording else idx
        raise DataError(
            f"array 'inputs' holds a non-finite value {_value(u, idx)!r} at index {where}, inside "
            f"trial {idx[0]}'s {int(lengths[idx[0]])} valid steps; inputs must be finite there"
        )
    return torch.from_numpy(np.where(np.isfinite(u), u, np.float32(0.0)))


def check_extras(extras: Mapping[str, Any], n: int, single_recording: bool) -> dict[str, Tensor]:
    """``true_*`` / ``label*`` arrays as tensors with one row per trial (numeric dtypes kept)."""
    out: dict[str, Tensor] = {}
    for k, v in extras.items():
        if not str(k).startswith(RESERVED_PREFIXES):
            raise DataError(f"extra array {k!r} must start with 'true_' or 'label'")
        arr = as_numeric(v, f"extra array {k!r}")
        if arr.ndim == 0:
            raise ShapeError(f"extra array {k!r} is a scalar; expected one row per trial")
        if single_recording and arr.shape[0] != n:
            arr = arr[None]
        if arr.shape[0] != n:
            raise ShapeError(
                f"extra array {k!r} has {arr.shape[0]} rows, expected {n} (one per trial)"
            )
        out[k] = torch.from_numpy(np.require(arr, requirements=["C", "W"]))
    return out


# ---------------------------------------------------------------------------- files
def read_npz(
    path: str, modalities: Sequence[str] | None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays of an ``.npz`` file a dataset uses: the modalities and the reserved keys.

    Other keys are never read, so an unused object array (which ``allow_pickle=False`` refuses)
    does not make the file unloadable.

    Returns:
        ``(arrays, modalities)``; ``modalities`` defaults to every non-reserved key.

    Raises:
        DataError: the file is not a readable ``.npz`` archive, a named modality is absent, or
            an array the dataset uses cannot be read; the message names the file (and key).
    """
    try:
        # our own handle: np.load leaks the one it opens when the zip directory is corrupt
        with open(path, "rb") as fh:
            return _read_archive(path, fh, modalities)
    except OSError as err:  # a directory, no permission
        raise DataError(
            f"data file {path!r} is not a readable .npz archive ({type(err).__name__}: {err})"
        ) from err


def _read_archive(
    path: str, fh: Any, modalities: Sequence[str] | None
) -> tuple[dict[str, np.ndarray], list[str]]:
    try:
        archive = np.load(fh, allow_pickle=False)
    except Exception as err:  # any failure to open it (truncated, empty, not a zip) means the same
        raise DataError(
            f"data file {path!r} is not a readable .npz archive ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"data file {path!r} holds a single array (an .npy file), not an .npz archive of "
            "named arrays; write it with numpy.savez(path, name=array, ...)"
        )
    with archive:
        files = list(archive.files)
        available = [k for k in files if not is_reserved(k)]
        mods = available if modalities is None else list(modalities)
        missing = [m for m in mods if m not in files]
        if missing:
            raise DataError(
                f"modalities {missing} named in the config are not in data file {path!r}; it holds "
                f"modalities {available} and reserved arrays {[k for k in files if is_reserved(k)]}"
            )
        contents: dict[str, np.ndarray] = {}
        for k in [*mods, *(k for k in files if is_reserved(k) and k not in mods)]:
            try:
                contents[k] = archive[k]
            except Exception as err:  # corrupt member, object array, bad header: name the key
                raise DataError(
                    f"data file {path!r}: array {k!r} cannot be read ({type(err).__name__}: {err})"
                ) from err
    return contents, mods


__all__ = [
    "RESERVED_KEYS",
    "RESERVED_PREFIXES",
    "as_float_array",
    "as_numeric",
    "check_dt",
    "check_extras",
    "check_ranks",
    "check_sizes",
    "is_reserved",
    "read_npz",
    "resolve_inputs",
    "resolve_lengths",
    "resolve_time",
]

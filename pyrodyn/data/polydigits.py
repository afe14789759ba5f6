"""PolyDigits: an offline M-modality stand-in for (translated) PolyMNIST, from sklearn's digits.

PolyMNIST (Sutter, Daunhawer & Vogt, ICLR 2021; translated variant: Daunhawer et al., ICLR 2022)
pairs *different* MNIST images of the same digit across modalities, each pasted at a random
position on a modality-specific background, so the only information the modalities share is the
digit class. PolyDigits builds the same structure from the 1,797 8x8 digits bundled with
scikit-learn (spec mmvm.md 2.1): per sample a class, per modality a different example of that
class, its own procedural background texture (smoothed colour noise times an oriented grating),
a random crop of it, the binarised digit (optionally downscaled) pasted at a random offset, and
the background colours inverted under the digit (backgrounds are kept dark so the digit shows).
Examples are split by instance, so no test image is ever seen in training.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pyrodyn.data.dataset import MultimodalDataset


def _texture(rng: np.random.Generator, size: int, modality: int) -> np.ndarray:
    """A ``(3, size, size)`` texture in [0, 1], distinct per modality."""
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.normal(size=(3, size, size)), sigma=(0, 2.0, 2.0), mode="wrap")
    noise = (noise - noise.min()) / (noise.max() - noise.min() + 1e-12)
    theta = np.pi * modality / 3.0 + rng.uniform(0, np.pi / 6)
    freq = 0.35 + 0.15 * (modality % 3)
    yy, xx = np.mgrid[0:size, 0:size]
    grating = 0.5 + 0.5 * np.sin(freq * (np.cos(theta) * xx + np.sin(theta) * yy))
    colour = rng.uniform(0.3, 1.0, size=(3, 1, 1))
    # dark backgrounds (<= 0.45) so the inverted digit (>= 0.55) stays visible
    return 0.45 * np.clip(0.6 * noise * colour + 0.4 * grating[None] * colour, 0.0, 1.0)


def _digit_masks(images: np.ndarray, size: int) -> np.ndarray:
    """Binarised digits ``(N, size, size)`` bool from sklearn's 0..16 images ``(N, 8, 8)``."""
    from scipy.ndimage import zoom

    x = images.astype(np.float64) / 16.0
    if size != 8:
        x = zoom(x, (1, size / 8, size / 8), order=1)
    return x > 0.5


def polydigits_arrays(
    num_modalities: int = 3,
    *,
    split: str = "train",
    repeats: int = 2,
    canvas: int = 12,
    digit_size: int = 8,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Arrays ``m0 .. m{M-1}`` ``(N, 3, canvas, canvas)`` float32 in [0, 1] and ``label`` ``(N,)``.

    Args:
        num_modalities: M >= 1.
        split: ``"train"`` or ``"test"`` (instances split by ``test_fraction`` with ``seed``).
        repeats: tuples per anchor instance (each repeat re-draws partners and positions).
        canvas: image side length.
        digit_size: side of the pasted digit (8 = no downscaling), at most ``canvas``.
        test_fraction: fraction of digit instances held out, in (0, 1).
        seed: seed of the instance split, textures, pairing, crops and offsets.
    """
    from sklearn.datasets import load_digits

    if int(num_modalities) < 1:
        raise ValueError(f"num_modalities must be >= 1, got {num_modalities}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if not 1 <= int(digit_size) <= int(canvas):
        raise ValueError(f"digit_size must lie in [1, canvas={canvas}], got {digit_size}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    m_count, canvas, size = int(num_modalities), int(canvas), int(digit_size)
    digits = load_digits()
    images, labels = digits.images, digits.target.astype(np.int64)
    split_rng = np.random.default_rng(seed)
    perm = split_rng.permutation(len(labels))
    n_test = round(len(labels) * test_fraction)
    idx = np.sort(perm[:n_test] if split == "test" else perm[n_test:])
    masks = _digit_masks(images[idx], size)
    labels = labels[idx]
    # one stream per split so train and test tuples differ, textures shared by both splits
    tex_rng = np.random.default_rng([seed, 7])
    textures = [_texture(tex_rng, 4 * canvas, m) for m in range(m_count)]
    rng = np.random.default_rng([seed, 1 if split == "train" else 2])
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    anchors = np.tile(np.arange(len(labels)), int(repeats))
    n = len(anchors)
    out: dict[str, np.ndarray] = {}
    for m in range(m_count):
        if m == 0:
            members = anchors
        else:
            members = np.array([rng.choice(by_class[labels[a]]) for a in anchors])
        tex = textures[m]
        cy = rng.integers(0, tex.shape[1] - canvas + 1, size=n)
        cx = rng.integers(0, tex.shape[2] - canvas + 1, size=n)
        oy = rng.integers(0, canvas - size + 1, size=n)
        ox = rng.integers(0, canvas - size + 1, size=n)
        img = np.empty((n, 3, canvas, canvas), dtype=np.float32)
        for i in range(n):
            bg = tex[:, cy[i] : cy[i] + canvas, cx[i] : cx[i] + canvas]
            digit = np.zeros((canvas, canvas), dtype=bool)
            digit[oy[i] : oy[i] + size, ox[i] : ox[i] + size] = masks[members[i]]
            img[i] = np.where(digit[None], 1.0 - bg, bg)
        out[f"m{m}"] = img
    out["label"] = labels[anchors]
    return out


def make_polydigits(
    num_modalities: int = 3,
    *,
    split: str = "train",
    repeats: int = 2,
    canvas: int = 12,
    digit_size: int = 8,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> MultimodalDataset:
    """PolyDigits as a static :class:`MultimodalDataset` (arguments as :func:`polydigits_arrays`).

    Modalities ``m0 .. m{M-1}`` have feature shape ``(3, canvas, canvas)``; ``label`` is the digit.
    """
    arrays = polydigits_arrays(
        num_modalities,
        split=split,
        repeats=repeats,
        canvas=canvas,
        digit_size=digit_size,
        test_fraction=test_fraction,
        seed=seed,
    )
    label = arrays.pop("label")
    return MultimodalDataset(arrays, static=True, extras={"label": label})


def save_polydigits(path: str | os.PathLike, num_modalities: int = 3, **kwargs: Any) -> str:
    """Writes :func:`polydigits_arrays` to an ``.npz`` (static data contract); returns the path."""
    path = os.fspath(path)
    np.savez(path, **polydigits_arrays(num_modalities, **kwargs))
    return path

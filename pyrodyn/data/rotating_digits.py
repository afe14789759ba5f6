"""Rotating and zooming digits with Poisson neurons: the MM-GPVAE simulated benchmark.

Recipe of Gondur et al. (ICLR 2024), specs/mmgpvae.md section 3, with scikit-learn's bundled 8x8
digits instead of MNIST (no download). Per trial, three independent GPs (RBF, length-scale
``lengthscale`` steps) are drawn:

* ``g1`` (variance 0.3): the **shared** latent; rotation angle ``120 * g1`` degrees, and it drives
  the neurons;
* ``g2`` (variance 0.5): the **neural-only** latent;
* ``g3`` (variance 0.8, shifted by +1): the **image-only** latent; zoom factor ``|g3|``.

Neurons: ``rate = exp(W [g1, g2] + b)`` with ``W ~ 1.5 U(-1, 1)``, ``b ~ 0.5 U(-1, 1)``, spikes
Poisson. Images: every frame takes the next exemplar of the chosen digit (handwriting varies per
frame: noise, not a latent), padded, then rotated and zoomed about the centre in one affine
resampling (zoom < 1 shrinks into a zero canvas, > 1 crops the centre), pixels in [0, 1].

Run ``python -m pyrodyn.data.rotating_digits OUT.npz`` to write the data set.
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np
from scipy import ndimage


def _rbf_cholesky(num_steps: int, lengthscale: float, variance: float) -> np.ndarray:
    t = np.arange(num_steps, dtype=np.float64)
    k = variance * np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / lengthscale**2)
    return np.linalg.cholesky(k + 1e-6 * variance * np.eye(num_steps))


def _digit_frames(digit: int, upsample: int, pad: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images[data.target == digit].astype(np.float64) / 16.0
    if upsample > 1:
        images = np.stack([ndimage.zoom(im, upsample, order=1) for im in images])
    return np.pad(images, ((0, 0), (pad, pad), (pad, pad)))


def _transform(image: np.ndarray, angle_deg: float, zoom: float) -> np.ndarray:
    """Rotate by ``angle_deg`` and zoom by ``zoom`` about the centre (output size unchanged)."""
    if zoom < 1e-3:
        return np.zeros_like(image)
    c = (np.array(image.shape, dtype=np.float64) - 1.0) / 2.0
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    matrix = rot / zoom  # output coordinate -> input coordinate
    offset = c - matrix @ c
    return ndimage.affine_transform(image, matrix, offset=offset, order=1, cval=0.0)


def make_rotating_digits(
    num_trials: int = 300,
    num_steps: int = 60,
    num_neurons: int = 100,
    *,
    lengthscale: float = 10.0,
    digit: int = 3,
    upsample: int = 1,
    pad: int = 2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Simulates the data set.

    Args:
        num_trials: trials.
        num_steps: T, bins per trial.
        num_neurons: neurons.
        lengthscale: RBF length-scale of the three latent GPs (bins).
        digit: which digit class of scikit-learn's digits (0-9).
        upsample: integer upsampling of the 8x8 digits (1: 8x8, 2: 16x16).
        pad: zero padding (pixels) on each side; the image is ``(8 upsample + 2 pad)^2``.
        seed: seed of numpy's ``default_rng``.

    Returns:
        ``spikes`` ``(trials, T, neurons)``, ``images`` ``(trials, T, pixels)`` (float32), and
        ground truth ``true_angle`` (degrees), ``true_zoom``, ``true_shared`` (g1),
        ``true_neural`` (g2), ``true_image`` (g3) ``(trials, T)``, ``true_rates``
        ``(trials, T, neurons)``, ``true_loadings`` ``(trials, neurons, 2)`` (the same ``W`` per
        trial, repeated so every ``true_*`` array has one row per trial), ``true_offsets``
        ``(trials, neurons)``.
    """
    for name, value in (("num_trials", num_trials), ("num_steps", num_steps)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if int(num_neurons) < 1:
        raise ValueError(f"num_neurons must be >= 1, got {num_neurons}")
    if not lengthscale > 0:
        raise ValueError(f"lengthscale must be positive, got {lengthscale}")
    if digit not in range(10):
        raise ValueError(f"digit must be one of 0..9, got {digit}")
    if int(upsample) < 1 or int(pad) < 0:
        raise ValueError(f"upsample must be >= 1 and pad >= 0, got {upsample}, {pad}")
    rng = np.random.default_rng(seed)
    n, t = int(num_trials), int(num_steps)
    gps = []
    for variance in (0.3, 0.5, 0.8):
        chol = _rbf_cholesky(t, lengthscale, variance)
        gps.append(rng.standard_normal((n, t)) @ chol.T)
    g1, g2, g3 = gps
    g3 = g3 + 1.0
    angle = 120.0 * g1
    zoom = np.abs(g3)
    w = 1.5 * rng.uniform(-1.0, 1.0, size=(num_neurons, 2))
    b = 0.5 * rng.uniform(-1.0, 1.0, size=num_neurons)
    rates = np.exp(np.stack([g1, g2], -1) @ w.T + b)
    spikes = rng.poisson(rates)
    frames = _digit_frames(digit, int(upsample), int(pad))
    order = rng.permutation(len(frames))
    size = frames.shape[1] * frames.shape[2]
    images = np.empty((n, t, size), dtype=np.float32)
    counter = 0
    for i in range(n):
        for j in range(t):
            src = frames[order[counter % len(frames)]]
            counter += 1
            images[i, j] = _transform(src, angle[i, j], zoom[i, j]).reshape(-1)
    return {
        "spikes": spikes.astype(np.float32),
        "images": np.clip(images, 0.0, 1.0),
        "true_angle": angle.astype(np.float32),
        "true_zoom": zoom.astype(np.float32),
        "true_shared": g1.astype(np.float32),
        "true_neural": g2.astype(np.float32),
        "true_image": g3.astype(np.float32),
        "true_rates": rates.astype(np.float32),
        "true_loadings": np.broadcast_to(w, (n, *w.shape)).astype(np.float32),
        "true_offsets": np.broadcast_to(b, (n, b.shape[0])).astype(np.float32),
    }


def save_rotating_digits(path: str | os.PathLike, **kwargs) -> dict[str, np.ndarray]:
    """Simulates (:func:`make_rotating_digits` keyword arguments) and writes an ``.npz``."""
    arrays = make_rotating_digits(**kwargs)
    np.savez_compressed(path, **arrays)
    return arrays


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m pyrodyn.data.rotating_digits OUT.npz [--trials N ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output .npz path")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--lengthscale", type=float, default=10.0)
    parser.add_argument("--upsample", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    save_rotating_digits(
        args.out,
        num_trials=args.trials,
        num_steps=args.steps,
        num_neurons=args.neurons,
        lengthscale=args.lengthscale,
        upsample=args.upsample,
        seed=args.seed,
    )


if __name__ == "__main__":
    main()


__all__ = ["make_rotating_digits", "save_rotating_digits"]

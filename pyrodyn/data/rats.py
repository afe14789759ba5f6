"""Synthetic "rats": Poisson populations driven by a shared odour-dependent latent.

A stand-in (spec mmvm.md 2.4) for the hippocampal recordings of the MMVM paper (Sutter et al.,
NeurIPS 2024; data of Shahbaba et al., Nat. Commun. 2022), where each of five rats' CA1
population is one modality and trials are paired across rats only by the odour presented. Here
every rat has a random loading matrix, baseline rates and one private latent dimension; on each
trial a 2-D latent relaxes toward an odour-specific attractor with noise, independently per rat
(the rats were recorded separately), and spikes are ``Poisson(exp(C_r [z_t, u_t] + b_r))`` per
time bin. Samples pair the i-th trial of an odour across rats: only the odour is shared.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyrodyn.data.dataset import MultimodalDataset

#: Neuron counts of the five rats of the MMVM hippocampal experiment.
NEURONS: tuple[int, ...] = (92, 79, 104, 49, 46)


def rats_arrays(
    neurons: Sequence[int] = NEURONS,
    *,
    num_odours: int = 4,
    trials_per_odour: int = 40,
    bins: int = 25,
    split: str = "train",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Spike counts ``rat<r>`` ``(samples, bins, neurons_r)`` float32 and ``label`` (odour).

    Args:
        neurons: neurons per rat (one modality per entry).
        num_odours: classes (odours), >= 2.
        trials_per_odour: paired samples per odour.
        bins: time bins per trial.
        split: ``"train"`` or ``"test"``: independent trials of the same rats (same loadings).
        seed: seed of the rats (loadings, baselines) and of the trials.
    """
    if not neurons or any(int(n) < 1 for n in neurons):
        raise ValueError(f"neurons must be positive counts, got {list(neurons)}")
    if int(num_odours) < 2:
        raise ValueError(f"num_odours must be >= 2, got {num_odours}")
    if int(trials_per_odour) < 1 or int(bins) < 2:
        raise ValueError(
            f"trials_per_odour must be >= 1 and bins >= 2, got {trials_per_odour}, {bins}"
        )
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rat_rng = np.random.default_rng([seed, 0])
    trial_rng = np.random.default_rng([seed, 1 if split == "train" else 2])
    k, n_trials = int(num_odours), int(trials_per_odour)
    angles = 2 * np.pi * np.arange(k) / k
    attractors = 1.5 * np.stack([np.cos(angles), np.sin(angles)], -1)  # (K, 2)
    labels = np.repeat(np.arange(k), n_trials)
    out: dict[str, np.ndarray] = {}
    for r, n in enumerate(int(x) for x in neurons):
        loading = rat_rng.normal(0.0, 0.35, size=(3, n))  # 2 shared + 1 private dim
        baseline = np.log(rat_rng.uniform(0.3, 2.0, size=n))
        z = trial_rng.normal(0.0, 0.3, size=(len(labels), 2))
        u = trial_rng.normal(0.0, 1.0, size=len(labels))
        counts = np.empty((len(labels), int(bins), n), dtype=np.float32)
        for t in range(int(bins)):
            z = z + 0.25 * (attractors[labels] - z) + trial_rng.normal(0, 0.15, size=z.shape)
            u = 0.9 * u + trial_rng.normal(0, 0.3, size=u.shape)
            latent = np.concatenate([z, u[:, None]], -1)
            counts[:, t] = trial_rng.poisson(np.exp(latent @ loading + baseline))
        out[f"rat{r}"] = counts
    out["label"] = labels.astype(np.int64)
    return out


def make_rats(
    neurons: Sequence[int] = NEURONS,
    *,
    num_odours: int = 4,
    trials_per_odour: int = 40,
    bins: int = 25,
    split: str = "train",
    seed: int = 0,
) -> MultimodalDataset:
    """Synthetic rats as a static :class:`MultimodalDataset` (see :func:`rats_arrays`)."""
    arrays = rats_arrays(
        neurons,
        num_odours=num_odours,
        trials_per_odour=trials_per_odour,
        bins=bins,
        split=split,
        seed=seed,
    )
    label = arrays.pop("label")
    return MultimodalDataset(arrays, static=True, extras={"label": label})

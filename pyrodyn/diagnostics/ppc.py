"""Posterior predictive checks suited to each likelihood, and calibration of predictive intervals.

Calibration uses the probability integral transform of each observed entry under its posterior
predictive draws, randomised for discrete data so that it is uniform under a calibrated model for
continuous, count and categorical modalities alike (Czado, Gneiting and Held, "Predictive model
assessment for count data", Biometrics 2009): ``u = P(Y < y) + V P(Y = y)``, ``V ~ U(0, 1)``.
The coverage of the central ``a`` interval is the fraction of entries with ``|u - 1/2| <= a/2``.

Family-specific summaries: moments for continuous data, count frequencies (rootogram) for counts,
category frequencies for ordinal/categorical data; posterior predictive p-values
``P(T(y_rep) >= T(y))`` of the mean and standard deviation. For dynamical models
:func:`dynamics_checks` compares free-running generations with the data by power spectrum
(``d_h``) and state-space occupancy (``d_stsp``) from :mod:`pyrodyn.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.sampling import PosteriorDraws
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import Generates

#: Central interval levels whose coverage is reported by default.
LEVELS: tuple[float, ...] = (0.5, 0.9)


def _as_index(x: np.ndarray) -> np.ndarray:
    """One-hot ``(..., C)`` -> category index ``(...)`` (NaN rows stay NaN)."""
    idx = np.argmax(np.nan_to_num(x), axis=-1).astype(np.float64)
    idx[np.isnan(x).any(axis=-1)] = np.nan
    return idx


def predictive_values(draws: PosteriorDraws, modality: str) -> tuple[np.ndarray, np.ndarray]:
    """Predictive ``(S, N)`` and observed ``(N,)`` scalar entries of one modality."""
    if modality not in draws.predictive:
        raise ValueError(
            f"no posterior predictive draws for modality {modality!r}; draw with "
            f"predictive=True (have {sorted(draws.predictive)})"
        )
    pred = draws.predictive[modality].astype(np.float64)
    obs = draws.observed[modality]
    if draws.kind.get(modality) == "onehot":
        pred, obs = _as_index(pred), _as_index(obs)
    return pred.reshape(pred.shape[0], -1), obs.reshape(-1)


def pit(draws: PosteriorDraws, modality: str, *, seed: int = 0) -> np.ndarray:
    """Randomised PIT of every observed entry: ``(N,)`` values in ``[0, 1]`` (missing dropped)."""
    pred, obs = predictive_values(draws, modality)
    keep = ~np.isnan(obs)
    return _pit(pred[:, keep], obs[keep], seed)


def _pit(pred: np.ndarray, obs: np.ndarray, seed: int) -> np.ndarray:
    below = (pred < obs).mean(axis=0)
    equal = (pred == obs).mean(axis=0)
    v = np.random.default_rng(seed).uniform(size=obs.shape)
    return below + v * equal


def _coverage(u: np.ndarray, levels: Sequence[float]) -> dict[float, float]:
    if u.size == 0:
        return {float(a): float("nan") for a in levels}
    return {float(a): float(np.mean(np.abs(u - 0.5) <= a / 2)) for a in levels}


def coverage(
    draws: PosteriorDraws, modality: str, levels: Sequence[float] = LEVELS, *, seed: int = 0
) -> dict[float, float]:
    """Coverage of central posterior predictive intervals ``{level: fraction}``.

    Raises:
        ValueError: for levels outside ``(0, 1)``.
    """
    return _coverage(pit(draws, modality, seed=seed), coverage_levels(levels))


def coverage_levels(levels: Sequence[float]) -> list[float]:
    """``levels`` as floats; raises ``ValueError`` for levels outside ``(0, 1)``."""
    bad = [a for a in levels if not 0.0 < float(a) < 1.0]
    if bad:
        raise ValueError(f"interval levels must lie in (0, 1), got {bad}")
    return [float(a) for a in levels]


def _pvalue(stat_rep: np.ndarray, stat_obs: float) -> float:
    return float(np.mean(stat_rep >= stat_obs))


def ppc_summary(draws: PosteriorDraws, modality: str, levels: Sequence[float] = LEVELS) -> dict:
    """Likelihood-appropriate posterior predictive summary of one modality (plain data).

    Returns:
        ``kind``, ``coverage`` (level -> fraction), ``p_mean`` / ``p_sd`` (predictive
        p-values of the mean and standard deviation), and per kind: ``mean``/``sd`` of observed
        and replicated data (continuous), ``counts`` with observed and expected frequencies of
        each count value (count; a rootogram), ``categories`` with observed frequencies and the
        predictive mean and 90% band (categorical / one-hot).
    """
    kind = draws.kind.get(modality, "continuous")
    pred, obs = predictive_values(draws, modality)
    keep = ~np.isnan(obs)
    pred, obs = pred[:, keep], obs[keep]
    out: dict = {"kind": kind, "num_observed": int(obs.size)}
    # the PIT of coverage(draws, modality, levels), from the values already at hand
    cov = _coverage(_pit(pred, obs, 0), coverage_levels(levels))
    out["coverage"] = {str(k): v for k, v in cov.items()}
    if obs.size == 0:
        return out
    out["p_mean"] = _pvalue(pred.mean(axis=1), float(obs.mean()))
    out["p_sd"] = _pvalue(pred.std(axis=1), float(obs.std()))
    if kind == "continuous":
        out.update(
            obs_mean=float(obs.mean()),
            obs_sd=float(obs.std()),
            rep_mean=float(pred.mean()),
            rep_sd=float(pred.std(axis=1).mean()),
        )
    elif kind == "count":
        top = int(max(obs.max(), np.quantile(pred, 0.99)))
        values = np.arange(top + 1)
        observed = np.bincount(obs.astype(np.int64).clip(0, top), minlength=top + 1)
        expected = np.stack(
            [np.bincount(p.astype(np.int64).clip(0, top), minlength=top + 1) for p in pred]
        ).mean(axis=0)
        out["counts"] = {
            "value": values.tolist(),
            "observed": observed.tolist(),
            "expected": expected.tolist(),
        }
    else:
        cats = np.unique(np.concatenate([np.unique(obs), np.unique(pred)])).astype(int)
        freq_obs = np.array([np.mean(obs == c) for c in cats])
        freq_rep = np.stack([(pred == c).mean(axis=1) for c in cats], axis=1)  # (S, C)
        out["categories"] = {
            "category": cats.tolist(),
            "observed": freq_obs.tolist(),
            "predicted": freq_rep.mean(axis=0).tolist(),
            "lower": np.quantile(freq_rep, 0.05, axis=0).tolist(),
            "upper": np.quantile(freq_rep, 0.95, axis=0).tolist(),
        }
    return out


def _trajectories(x: torch.Tensor | np.ndarray) -> np.ndarray:
    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return a.reshape(a.shape[0], a.shape[1], -1)


def dynamics_checks(
    model: GenerativeModel,
    batch: MultimodalBatch,
    draws: PosteriorDraws | None = None,
    *,
    num_steps: int | None = None,
    sigma: float = 2.0,
) -> dict:
    """Power spectrum and state-space occupancy of generated versus observed data.

    The model free-runs from each trial's first state (``model.generate(..., init=batch)``) for
    as many steps as the trials have; for every continuous or count modality ``d_h`` (mean over
    trials) and ``d_stsp`` (trials stacked; histogram in up to 3 dims, GMM above) are reported,
    with the mean spectra for plotting.

    Args:
        model: a dynamical model (``is_dynamical``).
        batch: the observed trials ``(B, T, ...)``.
        draws: supplies the modality kinds (default: every modality counts as continuous).
        num_steps: steps to generate (default T).
        sigma: spectrum smoothing in frequency bins (short series: small).

    Returns:
        ``{modality: {"d_h", "d_stsp", "freq", "spectrum_obs", "spectrum_gen"}}``, the generated
        observations (``prediction="sample"``, compared with the data) under ``"_generated"``
        and one noise-free read-out (``prediction="default"``) under ``"_generated_mean"``.
    """
    from pyrodyn.metrics.power_spectrum import d_h, power_spectrum
    from pyrodyn.metrics.state_space import d_stsp

    if not isinstance(model, Generates) or batch.static:
        raise ValueError(
            f"dynamics checks need a model that declares the Generates capability, on "
            f"sequences; {type(model).__name__} declares it: {isinstance(model, Generates)}, "
            f"static batch: {batch.static}"
        )
    t = int(num_steps or batch.num_steps)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            gen = model.generate(t, init=batch, num_trials=batch.num_sequences, prediction="sample")
            # the noise-free read-out of the same kind of run, for drawing the attractor
            mean = model.generate(t, init=batch, num_trials=1, prediction="default")
    finally:
        model.train(was_training)
    kinds = {} if draws is None else draws.kind
    out: dict = {"_generated": {}, "_generated_mean": {}}
    for m in model.modalities:
        if kinds.get(m, "continuous") not in ("continuous", "count") or m not in gen:
            continue
        obs = _trajectories(batch.obs[m])
        mask = batch.mask[m].reshape(obs.shape).cpu().numpy()
        g = _trajectories(gen[m])
        out["_generated"][m] = g
        out["_generated_mean"][m] = _trajectories(mean[m])
        n = min(obs.shape[1], g.shape[1])
        dh = [d_h(obs[i, :n], g[i, :n], sigma=sigma) for i in range(obs.shape[0])]
        full = mask.all(axis=(1, 2))
        x_true = (
            obs[full].reshape(-1, obs.shape[-1]) if full.any() else obs.reshape(-1, obs.shape[-1])
        )
        x_gen = g.reshape(-1, g.shape[-1])
        method = "bins" if x_true.shape[1] <= 3 else "gmm"
        kw = {"gmm_points": 2000, "mc_samples": 500} if method == "gmm" else {}
        spec_obs = np.mean([power_spectrum(obs[i, :n], sigma) for i in range(obs.shape[0])], 0)
        spec_gen = np.mean([power_spectrum(g[i, :n], sigma) for i in range(g.shape[0])], 0)
        out[m] = {
            "d_h": float(np.nanmean(dh)),
            "d_stsp": float(d_stsp(x_true, x_gen, method=method, bin_range="minmax", **kw)),
            "d_stsp_method": method,
            "freq": np.fft.rfftfreq(n).tolist(),
            "spectrum_obs": spec_obs.tolist(),
            "spectrum_gen": spec_gen.tolist(),
        }
    return out

"""The peers of scripts/bench_peers.py: a reservoirpy echo state network with its training-data
hyper-parameter search, and elephant GPFA on spike trains.

Echo state network (Jaeger 2001; Pathak et al., Chaos 2017 for closed-loop attractor
reconstruction): a fixed random leaky-tanh reservoir driven by the data, a ridge read-out of
[input, state] trained for one-step prediction with teacher forcing, then run closed loop (the
prediction is the next input); on channels that do not show the state (codes, counts, labels),
:func:`run_esn_latent` scores its reservoir states after an affine map to the true state.
GPFA: Yu et al., J. Neurophysiol. 2009, as elephant implements it. Imports of reservoirpy /
elephant happen inside the functions: they come from the optional extra ``pyrodyn[peers]``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import math
import time
from collections.abc import Callable

import numpy as np

#: the ESN search space; every reservoir (units, spectral radius, leak) is tried with every ridge
#: (bench_peers.py --esn-ridges replaces the ridges)
SPACE = {
    "units": (500, 1000),
    "sr": (0.8, 1.0, 1.2),
    "leak": (0.3, 0.6, 1.0),
    "ridge": (1e-6, 1e-4),
}
WASHOUT = 200  # reservoir states dropped before a read-out fit
DIVERGED = 1e3  # a closed-loop output this large (standardised data) counts as divergence


def search_order(order_seed: int = 0) -> list[tuple[int, float, float]]:
    """The reservoirs ``(units, sr, leak)`` of :data:`SPACE` in a fixed shuffled order, so that a
    budget cut drops a spread of configurations rather than all the large reservoirs."""
    grid = list(itertools.product(SPACE["units"], SPACE["sr"], SPACE["leak"]))
    return [grid[i] for i in np.random.default_rng(order_seed).permutation(len(grid))]


def ridges(args: argparse.Namespace | None = None) -> tuple[float, ...]:
    """The read-out ridges searched: ``args.esn_ridges`` (``--esn-ridges``) or :data:`SPACE`'s.

    Raises:
        ValueError: a ridge that is not a positive finite number.
    """
    values = tuple(getattr(args, "esn_ridges", None) or SPACE["ridge"])
    bad = [v for v in values if not (isinstance(v, (int, float)) and 0 < v < math.inf)]
    if bad:
        raise ValueError(f"ESN ridges must be positive finite numbers, got {bad}")
    return values


def space_text(args: argparse.Namespace | None = None) -> str:
    """The search space in words (printed with every table)."""
    space = SPACE | {"ridge": ridges(args)}

    def braces(key: str) -> str:
        return "{" + ", ".join(f"{v:g}" for v in space[key]) + "}"

    n = math.prod(len(v) for v in space.values())
    return (
        f"reservoir units {braces('units')} x spectral radius {braces('sr')} x leak "
        f"{braces('leak')} x ridge {braces('ridge')} ({n} configurations; input scaling 1, "
        f"connectivity 0.1, tanh, read-out of [input, state] + bias, washout {WASHOUT})"
    )


def scores(x_true: np.ndarray, x_gen: np.ndarray, sigma: float) -> tuple[float, float]:
    """(D_stsp, D_H) as scripts/bench_mtf.py scores (GMM D_stsp above 5 dimensions); NaN for a
    diverged run."""
    from pyrodyn.metrics.power_spectrum import d_h
    from pyrodyn.metrics.state_space import d_stsp

    if not np.all(np.isfinite(x_gen)):
        return float("nan"), float("nan")
    opts = {"n_bins": 10, "bin_range": "legacy"} if x_true.shape[1] <= 5 else {"method": "gmm"}
    return float(d_stsp(x_true, x_gen, **opts)), float(d_h(x_true, x_gen, sigma=sigma))


def free_run(reservoir, readout, u_last: np.ndarray, steps: int, keep_states: bool = False):
    """Closed loop from the reservoir's state after a teacher-forced run that ended on input
    ``u_last``; the rows after a divergence are NaN. With ``keep_states`` also the reservoir
    states ``(steps, units)``: row ``t`` is the state after taking in output row ``t``, as row
    ``t`` of a teacher-forced run is the state after taking in input row ``t``."""
    out = np.full((steps, u_last.shape[0]), np.nan)
    states = np.full((steps, reservoir.state["out"].size), np.nan) if keep_states else None
    y = readout.step(np.concatenate([u_last, reservoir.state["out"]]))
    for t in range(steps):
        if not np.all(np.abs(y) < DIVERGED):  # also catches NaN
            break
        out[t] = y
        x = reservoir.step(y)
        if keep_states:
            states[t] = x
        y = readout.step(np.concatenate([y, x]))
    return (out, states) if keep_states else out


def fit_readout(u: np.ndarray, states: np.ndarray, ridge: float):
    """Ridge read-out of [u_t, x_t] -> u_{t+1}; returns it and its one-step residual sd."""
    from reservoirpy.nodes import Ridge

    feats = np.hstack([u[WASHOUT:-1], states[WASHOUT:-1]])
    readout = Ridge(ridge=ridge).fit(feats, u[WASHOUT + 1 :])
    return readout, (readout.run(feats) - u[WASHOUT + 1 :]).std(0)


def search(u: np.ndarray, seed: int, args: argparse.Namespace, t0: float) -> dict:
    """Searches :data:`SPACE` on the training part ``u`` within ``args.budget`` s (counted from
    ``t0``), leaving room for the final run of the best on all of ``u``.

    Selection (training data only): fit on ``u[:-valid_steps]``, free-run ``burn_in +
    valid_steps`` steps, drop the burn-in, add Gaussian noise of the read-out's one-step residual
    sd (the training data are noisy; a clean free run scored against them would measure the
    noise), score D_stsp + D_H (sigma scaled to the length) against ``u[-valid_steps:]``. A
    configuration runs only if the measured costs say that it and the final run still fit the
    budget (the first always runs); one that does not fit is skipped and the search goes on with
    the next (a smaller reservoir may fit), so the budget is spent but not overrun.
    """
    from reservoirpy.nodes import Reservoir

    n_fit, n_gen, n_val = u.shape[0] - args.valid_steps, args.burn_in + args.steps, args.valid_steps
    valid, sigma_v = u[n_fit:], 20.0 * n_val / 50_000  # D_H sigma 20 per 50000 steps
    costs: dict[int, dict[str, float]] = {}  # units -> seconds of the last run / fit / free run

    def cost(units: int, key: str) -> float:
        if units in costs:
            return costs[units][key]
        return max((c[key] * (units / k) ** 1.5 for k, c in costs.items()), default=0.0)

    def room(units: int, extra: float) -> bool:
        units = max(units, best["units"])  # the final run is of the best, or of this one
        final = (u.shape[0] / n_fit) * (cost(units, "run") + cost(units, "ridge"))
        final += cost(units, "gen") * n_gen / (args.burn_in + n_val)
        return time.perf_counter() - t0 + extra + final <= args.budget

    ridge_grid = ridges(args)
    best: dict = {"units": 0, "score": math.inf}
    tried: list[dict] = []
    skipped = 0
    for units, sr, leak in search_order():
        if tried and not room(units, sum(cost(units, k) for k in ("run", "ridge", "gen"))):
            skipped += len(ridge_grid)  # a smaller reservoir later in the order may still fit
            continue
        ta = time.perf_counter()
        reservoir = Reservoir(units, lr=leak, sr=sr, seed=seed)
        states = reservoir.run(u[:n_fit])
        c = {"run": time.perf_counter() - ta}
        for i, ridge in enumerate(ridge_grid):
            if i and not room(units, c["ridge"] + c["gen"]):
                skipped += len(ridge_grid) - i
                break
            tb = time.perf_counter()
            readout, noise_sd = fit_readout(u[:n_fit], states, ridge)
            tc = time.perf_counter()
            gen = free_run(copy.deepcopy(reservoir), readout, u[n_fit - 1], args.burn_in + n_val)
            c.update(ridge=tc - tb, gen=time.perf_counter() - tc)
            costs[units] = c
            noise = np.random.default_rng(seed).normal(size=valid.shape) * noise_sd
            ds, dh = scores(valid, gen[args.burn_in :] + noise, sigma_v)
            row = {"units": units, "sr": sr, "leak": leak, "ridge": ridge, "d_stsp": ds, "d_h": dh}
            row["score"] = ds + dh if math.isfinite(ds + dh) else math.inf
            tried.append(row)
            if not tried[1:] or row["score"] < best["score"]:
                best = row
    return {
        "search_s": time.perf_counter() - t0,
        "configs_tried": len(tried),
        "configs_skipped": skipped,  # for want of budget
        "configs_total": len(search_order()) * len(ridge_grid),
        "chosen": {k: best[k] for k in ("units", "sr", "leak", "ridge")},
        "chosen_valid": {k: best[k] for k in ("d_stsp", "d_h")},
        "search": tried,
    }


def _final_reservoir(found: dict, seed: int):
    from reservoirpy.nodes import Reservoir

    c = found["chosen"]
    return Reservoir(c["units"], lr=c["leak"], sr=c["sr"], seed=seed)


def run_esn(
    u: np.ndarray, x_true: np.ndarray, seed: int, args: argparse.Namespace, t0: float
) -> dict:
    """:func:`search` on the training part ``u``, the best refitted on all of ``u``, free-run
    ``burn_in + steps`` steps and scored (burn-in dropped) against ``x_true``."""
    found = search(u, seed, args, t0)
    reservoir = _final_reservoir(found, seed)
    readout, _ = fit_readout(u, reservoir.run(u), found["chosen"]["ridge"])
    gen = free_run(reservoir, readout, u[-1], args.burn_in + args.steps)[args.burn_in :]
    wall = time.perf_counter() - t0
    ds, dh = scores(x_true, gen, 20.0)
    return {"d_stsp": ds, "d_h": dh, "wall_s": wall} | found


def standardise(u: np.ndarray) -> np.ndarray:
    """Columns of ``u`` z-scored (a constant column is only centred); the ESN's input scaling of
    1 expects inputs of unit scale, and codes 1..7 or counts would saturate its tanh units."""
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] < 2 or not np.all(np.isfinite(u)):
        raise ValueError(f"inputs must be a finite (T >= 2, channels) array, got {u.shape}")
    sd = u.std(axis=0)
    return (u - u.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def run_esn_latent(
    codes: np.ndarray,
    state_fit: np.ndarray,
    x_true: np.ndarray,
    seed: int,
    args: argparse.Namespace,
    t0: float,
) -> dict:
    """The ESN on channels that do not show the state (codes, counts, one-hot labels), scored as
    pyrodyn's latent is: D_stsp after an affine map to the true state fitted on training data.

    The codes of the training part, as numbers, z-scored per channel (:func:`standardise`, on the
    training part), are the ESN's input and its one-step prediction target; :func:`search` picks
    the hyper-parameters on them alone (the true state is never used to choose). The reservoir
    state is the analogue of pyrodyn's latent (the state the model runs forward; the read-out is
    the analogue of the decoder): a least-squares affine map from the teacher-forced reservoir
    states of the training part (washout dropped) to the true training state ``state_fit`` is
    applied to the reservoir states of the free run (burn-in dropped) and scored against
    ``x_true`` by :func:`pyrodyn.metrics.latent_affine.affine_latent_d_stsp`, as the pyrodyn side
    is. Also reported, ``d_stsp_outputs``: the same score of the free-run outputs (the predicted
    channels), the map fitted from the teacher-forced predictions of ``u_{t+1}`` to the state at
    ``t + 1``. Fitting and scoring happen after ``wall_s`` is taken (pyrodyn's scoring is outside
    its budget too).
    """
    from pyrodyn.metrics.latent_affine import affine_latent_d_stsp

    u = standardise(codes)
    if state_fit.shape[0] != u.shape[0]:
        raise ValueError(
            f"state_fit must have one row per training step: {state_fit.shape[0]} rows for "
            f"{u.shape[0]} steps"
        )
    found = search(u, seed, args, t0)
    reservoir = _final_reservoir(found, seed)
    states = reservoir.run(u)
    readout, _ = fit_readout(u, states, found["chosen"]["ridge"])
    gen, gen_states = free_run(
        reservoir, readout, u[-1], args.burn_in + args.steps, keep_states=True
    )
    wall = time.perf_counter() - t0
    gen, gen_states = gen[args.burn_in :], gen_states[args.burn_in :]
    feats = np.hstack([u[WASHOUT:-1], states[WASHOUT:-1]])
    pairs = {
        "d_stsp": (gen_states, states[WASHOUT:], state_fit[WASHOUT:]),
        "d_stsp_outputs": (gen, readout.run(feats), state_fit[WASHOUT + 1 :]),
    }
    out = {"wall_s": wall, "inputs": int(u.shape[1]), "latent": "reservoir states"}
    for key, (z, fit_latent, fit_state) in pairs.items():
        ok = np.all(np.isfinite(z))  # a diverged free run scores NaN
        out[key] = (
            affine_latent_d_stsp(z, x_true_state=x_true, fit_latent=fit_latent, fit_state=fit_state)
            if ok
            else float("nan")
        )
    out["score_s"] = time.perf_counter() - t0 - wall
    return out | found


def spike_times(counts: np.ndarray, bin_width: float) -> list[np.ndarray]:
    """Per neuron, spike times of ``(T, neurons)`` counts: the ``c`` spikes of bin ``t`` at
    ``(t + (j + 1) / (c + 1)) * bin_width`` for ``j < c``, strictly inside the bin."""
    counts = np.asarray(counts)
    if counts.ndim != 2 or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError(
            f"counts must be a (T, neurons) array of non-negative integers, got {counts.shape}"
        )
    out = []
    for col in counts.astype(np.int64).T:
        c = np.repeat(col, col)
        j = np.concatenate([np.arange(k) for k in col])
        out.append((np.repeat(np.arange(col.size), col) + (j + 1) / (c + 1)) * bin_width)
    return out


def run_gpfa(
    data: dict, train_idx: np.ndarray, test_idx: np.ndarray, affine_r2: Callable[..., float]
) -> dict:
    """elephant GPFA (x_dim 2) on the spikes alone, fitted on the training trials; R^2 of affine
    maps (fitted on the training trials) from its latents to the true shared / spike-private
    latents on the held-out trials: the 2-D latent as a whole, and its best single coordinate."""
    import neo
    import quantities as pq
    from elephant.gpfa import GPFA

    spikes, bin_ms = data["spikes"], 20.0  # one simulation step per bin (elephant's default width)
    t_stop = spikes.shape[1] * bin_ms

    def trains(i: int) -> list:
        return [
            neo.SpikeTrain(s * pq.ms, t_start=0 * pq.ms, t_stop=t_stop * pq.ms)
            for s in spike_times(spikes[i], bin_ms)
        ]

    t0 = time.perf_counter()
    train, test = [trains(i) for i in train_idx], [trains(i) for i in test_idx]
    gpfa = GPFA(bin_size=bin_ms * pq.ms, x_dim=2).fit(train)
    z_train, z_test = (np.stack([z.T for z in gpfa.transform(s)]) for s in (train, test))
    out = {"wall_s": time.perf_counter() - t0, "em_iters": len(gpfa.fit_info["iteration_time"])}
    for name, key in (("shared", "true_angle"), ("private_spikes", "true_neural")):
        ytr, yte = data[key][train_idx], data[key][test_idx]
        out[name] = affine_r2(z_train, ytr, z_test, yte)
        out[f"{name}_best1d"] = max(
            affine_r2(z_train[..., j], ytr, z_test[..., j], yte) for j in range(z_train.shape[-1])
        )
    return out

"""Tables of scripts/bench_peers.py: one markdown table per task, every seed and the medians."""

from __future__ import annotations

import argparse
import math

import numpy as np


def _median(values: list[float], worst: float) -> float:
    """Median with NaN (a diverged run) counted as ``worst``."""
    return float(np.median([worst if math.isnan(v) else v for v in values]))


def _fmt(value, digits: int) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or digits == 0:
        return f"{value:.0f}"
    return f"{value:.{digits}f}" if math.isfinite(value) else "diverged"


#: (header, side, key, digits, median: None, or the value a NaN counts as)
DSR_COLS = [
    ("ESN D_stsp", "peer", "d_stsp", 3, math.inf),
    ("ESN D_H", "peer", "d_h", 3, math.inf),
    ("ESN configs", "peer", "configs_tried", 0, None),
    ("ESN wall s", "peer", "wall_s", 0, math.inf),
    ("MTF D_stsp", "pyrodyn", "d_stsp", 3, math.inf),
    ("MTF D_H", "pyrodyn", "d_h", 3, math.inf),
    ("MTF steps (kept)", "pyrodyn", "fit_steps", 0, None),
    ("MTF wall s", "pyrodyn", "wall_s", 0, math.inf),
]
LATENT_COLS = [
    ("ESN D_stsp (reservoir)", "peer", "d_stsp", 3, math.inf),
    ("ESN D_stsp (outputs)", "peer", "d_stsp_outputs", 3, math.inf),
    ("ESN configs", "peer", "configs_tried", 0, None),
    ("ESN wall s", "peer", "wall_s", 0, math.inf),
    ("MTF D_stsp (latent)", "pyrodyn", "d_stsp", 3, math.inf),
    ("MTF steps (kept)", "pyrodyn", "fit_steps", 0, None),
    ("MTF wall s", "pyrodyn", "wall_s", 0, math.inf),
]
#: what a latent task reads, for its table
LATENT_DATA = {
    "lorenz63_op": (
        "Lorenz-63 from the 8 ordinal (codes 1..7) + 3 Poisson channels alone",
        "the shipped recording's train_noisy.npz (its Gaussian channels unread); truth: the "
        "noise-free `gaussian` (z-scored state) of train.npz",
        "11 channels: ordinal codes and counts",
    ),
    "lorenz63_labels": (
        "Lorenz-63 from octant labels alone",
        "`pyrodyn data lorenz63_symbolic` (8-class one-hot octant, its own simulation, dt 0.05, "
        "100000 steps); truth: its `true_state` (noise-free, z-scored)",
        "8 one-hot channels",
    ),
}
DIGITS_COLS = [
    ("GPFA shared", "peer", "shared", 3, -math.inf),
    ("GPFA private spikes", "peer", "private_spikes", 3, -math.inf),
    ("GPFA wall s", "peer", "wall_s", 0, math.inf),
    ("MM-GPVAE shared", "pyrodyn", "shared", 3, -math.inf),
    ("MM-GPVAE private spikes", "pyrodyn", "private_spikes", 3, -math.inf),
    ("MM-GPVAE private images", "pyrodyn", "private_images", 3, -math.inf),
    ("MM-GPVAE steps", "pyrodyn", "steps", 0, None),
    ("MM-GPVAE wall s", "pyrodyn", "wall_s", 0, math.inf),
]


def task_table(
    task: str,
    rows: list[dict],
    args: argparse.Namespace,
    floor: tuple[float, float | None] | None = None,
    *,
    kind: str,
    config: str,
    space: str,
) -> str:
    """Markdown of one task: every seed, the medians, the wall time of each side, notes.

    ``kind``: ``"dsr"`` (D_stsp / D_H of the observed state), ``"latent"`` (D_stsp of an
    affine-mapped latent, :data:`LATENT_DATA` says what the task reads) or ``"digits"``;
    ``config``: the pyrodyn side's shipped config; ``space``: the ESN search space in words.
    """
    if kind not in ("dsr", "latent", "digits"):
        raise ValueError(f"kind must be 'dsr', 'latent' or 'digits', got {kind!r}")
    if kind == "latent" and task not in LATENT_DATA:
        raise ValueError(f"no description of the latent task {task!r}; have {list(LATENT_DATA)}")
    if kind == "digits":
        cols = DIGITS_COLS
        head = (
            f"### Rotating digits + Poisson spikes: GPFA vs MM-GPVAE ({args.digits_budget:g} s)\n\n"
            f"{args.digits_trials - args.digits_test} training / {args.digits_test} held-out "
            f"trials of T = {args.digits_steps}, 100 neurons; R^2 on the held-out trials of affine "
            "maps fitted on the training trials. GPFA: x_dim 2 on the spikes alone, one bin per "
            "step, its 2-D latent mapped to each target; MM-GPVAE: the shared and private "
            "latents (1-D each), scripts/bench_mmgpvae.py's model with "
            f"fit.max_time={args.digits_budget:g}."
        )
    elif kind == "latent":
        cols = LATENT_COLS
        what, data, esn_in = LATENT_DATA[task]
        head = (
            f"### {what}: echo state network vs MTF ({args.budget:g} s)\n\n"
            f"Data: {data}; training on steps 0-49999, scored on steps 50000-99999. Both sides: "
            f"D_stsp (10 bins +-2 sd) of {args.steps} free-running steps after {args.burn_in} "
            "burn-in, after a least-squares affine map to the true state fitted on the training "
            f"part (affine_latent_d_stsp), no D_H. MTF: configs/{config}.yaml with "
            f"fit.max_time={args.budget:g}"
            + "".join(f", {o}" for o in (getattr(args, "pyrodyn_set", None) or []))
            + "; the map from the encoder "
            "latents of the training steps (first K units) to the true training state, applied "
            f"to the generated latent. ESN: fed the codes as numbers ({esn_in}, z-scored per "
            "channel on the training part), trained for one-step prediction of them, "
            f"hyper-parameters chosen on the training codes alone ({space}; "
            f"D_stsp + D_H of a free run against the last {args.valid_steps} training steps), "
            "free-running; the map from its teacher-forced reservoir states on the training part "
            "(the analogue of the latent) to the true training state, applied to the free-run "
            "reservoir states; the same score of its predicted channels beside it."
        )
    else:
        cols = DSR_COLS
        head = (
            f"### {task}: echo state network vs MTF ({args.budget:g} s)\n\n"
            f"ESN search space: {space}; chosen per seed by "
            f"D_stsp + D_H of a free run against the last {args.valid_steps} training steps "
            "(the read-out's one-step residual noise added to it), search and final run within "
            f"the budget. MTF: configs/{config}.yaml with fit.max_time={args.budget:g}"
            + "".join(f", {o}" for o in (getattr(args, "pyrodyn_set", None) or []))
            + ". "
            f"Scored on {args.steps} generated steps after {args.burn_in} burn-in."
        )
    lines = [head, "", "| seed | " + " | ".join(c[0] for c in cols) + " |"]
    lines.append("|---" * (len(cols) + 1) + "|")
    done = {s: [r[s] for r in rows if s in r and "error" not in r[s]] for s in ("peer", "pyrodyn")}
    for r in rows:
        cells = []
        for _, side, key, digits, _ in cols:
            v = r.get(side, {}).get(key)
            cell = _fmt(v, digits)
            if key == "fit_steps" and v is not None:
                cell += f" ({r[side]['selected_step']})"
            cells.append(cell)
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + " |")
    med = []
    for _, side, key, digits, worst in cols:
        vals = [d[key] for d in done[side] if key in d]
        med.append(f"**{_fmt(_median(vals, worst), digits)}**" if vals and worst else "")
    lines.append("| **median** | " + " | ".join(med) + " |")
    notes = []
    for r in rows:
        for side in ("peer", "pyrodyn"):
            res = r.get(side, {})
            if "error" in res:
                notes.append(f"seed {r['seed']} {side} failed: {res['error']}")
            elif "chosen" in res:
                c = res["chosen"]
                notes.append(
                    f"seed {r['seed']}: the ESN chose {c['units']} units, sr {c['sr']:g}, leak "
                    f"{c['leak']:g}, ridge {c['ridge']:g} ({res['configs_tried']} of "
                    f"{res['configs_total']} configurations run, {res['configs_skipped']} skipped "
                    f"for want of budget; search {res['search_s']:.0f} s)"
                )
    if floor:
        dh = "" if floor[1] is None else f", D_H {floor[1]:.3f}"
        notes.append(
            f"floor (the noise-free training half against the tail): D_stsp {floor[0]:.4f}{dh}"
        )
    return "\n".join([*lines, *([""] if notes else []), *(f"- {n}" for n in notes)]) + "\n"

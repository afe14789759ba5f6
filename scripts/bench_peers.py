"""Peers side by side (issue 17): pyrodyn against the tools a user would pick instead.

Each seed of each task runs the pyrodyn fit and the peer **at the same time**, as two processes
with ``OMP/MKL/OPENBLAS_NUM_THREADS=1`` and the same wall-clock budget:

* ``lorenz63`` / ``rossler`` / ``lorenz96`` (N = 10): train on the first half of the noisy
  Gaussian channels, free-run ``--burn-in + --steps`` steps, drop the burn-in and score against
  the noise-free second half, as scripts/bench_mtf.py does: D_stsp (10 bins +-2 sd; GMM above 5
  dimensions) and D_H (sigma 20) on the common length. Lorenz-63 is the shipped recording
  (``train_noisy.npz`` / ``train.npz``); Rössler and Lorenz-96 are written by ``pyrodyn data``.
  Peer: a reservoirpy echo state network whose hyper-parameters are chosen by a free-run score
  on the training part only (scripts/peer_models.py: ``run_esn``, ``SPACE``), the search and
  the final run within ``--budget`` s. pyrodyn: ``pyrodyn fit`` of the shipped MTF config with
  ``fit.max_time=--budget``, scored by scripts/bench_mtf.py.
* ``digits``: the rotating digits + Poisson spikes simulation of scripts/bench_mmgpvae.py;
  latents scored by affine maps fitted on the training trials, R^2 on the held-out trials.
  Peer: elephant GPFA on the spikes alone; pyrodyn: MM-GPVAE with ``fit.max_time=--digits-budget``.

Peers come from the optional extra ``pip install "pyrodyn[peers]"``; the library never imports
them. Usage::

    .venv/bin/python scripts/bench_peers.py --seeds 0 1 2 --out runs/bench-peers --write-benchmarks
    .venv/bin/python scripts/bench_peers.py --tasks lorenz63 --seeds 0 --sides peer   # ESN alone
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("lorenz63", "rossler", "lorenz96", "digits")
PEER_PACKAGES = {"dsr": ("reservoirpy",), "digits": ("elephant", "neo", "quantities")}
SECTION = "## Peers side by side (issue 17)"
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def require_peers(tasks: list[str]) -> None:
    """Exits with one line naming the extra when a peer package of ``tasks`` is missing."""
    kinds = sorted({"digits" if t == "digits" else "dsr" for t in tasks})
    missing = [p for k in kinds for p in PEER_PACKAGES[k] if importlib.util.find_spec(p) is None]
    if missing:
        raise SystemExit(
            f"bench_peers: peer package(s) {', '.join(missing)} not installed; "
            'install them with: pip install "pyrodyn[peers]"'
        )


def load_script(name: str):
    """A sibling script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dsr_files(task: str, args: argparse.Namespace) -> tuple[str, str, str]:
    """(training file, truth file, truth key) of a DSR task."""
    if task == "lorenz63":
        return args.l63_data, args.l63_truth, "gaussian"
    path = os.path.join(args.out, "data", f"{task}.npz")
    return path, path, "true_state"


def worker(side: str, task: str, seed: int, args: argparse.Namespace) -> dict:
    """One side of one seed of one task (its own process, started by :func:`run_pair`)."""
    t0 = time.perf_counter()
    if task == "digits":
        from pyrodyn.data.rotating_digits import make_rotating_digits

        mm = load_script("bench_mmgpvae")
        data = make_rotating_digits(args.digits_trials, args.digits_steps, 100, seed=seed)
        if side == "peer":
            idx = mm.split_trials(args.digits_trials, seed, args.digits_test)
            return load_script("peer_models").run_gpfa(data, *idx, mm.affine_r2)
        ns = mm.build_parser().parse_args(shlex.split(args.digits_args or ""))
        ns.max_time, ns.test_trials = args.digits_budget, args.digits_test
        r = mm.run("mm", seed, data, ns, args.digits_budget)
        keys = {"angle_r2": "shared", "neural_r2": "private_spikes", "zoom_r2": "private_images"}
        return {new: r[old] for old, new in keys.items()} | {
            "steps": r["steps"],
            "wall_s": r["train_wall_s"],
        }
    data_path, truth_path, truth_key = dsr_files(task, args)
    if side == "peer":
        with np.load(data_path) as f:
            u = np.asarray(f["gaussian"], dtype=np.float64)
        with np.load(truth_path) as f:
            truth = np.asarray(f[truth_key], dtype=np.float64)
        cut = u.shape[0] // 2  # the shipped configs' data.valid_fraction 0.5
        return load_script("peer_models").run_esn(u[:cut], truth[cut:], seed, args, t0)
    mtf = load_script("bench_mtf")
    ns = argparse.Namespace(
        config=str(ROOT / "configs" / f"mtf_{task}.yaml"),
        data=data_path,
        truth=truth_path,
        truth_key=truth_key,
        modality="gaussian",
        seeds=[seed],
        max_time=args.budget,
        steps=args.steps,
        burn_in=args.burn_in,
        set=args.pyrodyn_set,
        out=os.path.join(args.out, task, f"seed{seed}", "pyrodyn"),
        latent=False,
        jobs=1,
    )
    os.makedirs(ns.out, exist_ok=True)
    cmd, wall = mtf._fit_all(ns)[seed]
    res = mtf._evaluate(ns, os.path.join(ns.out, f"seed{seed}"))
    return res | {"wall_s": wall, "command": shlex.join(cmd)}


def run_pair(task: str, seed: int, args: argparse.Namespace) -> dict:
    """The sides of one seed at the same time, one single-threaded process each."""
    folder = os.path.join(args.out, task, f"seed{seed}")
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ, **THREADS)
    procs = {}
    for side in args.sides:
        cmd = [sys.executable, __file__, "--worker", side, task, str(seed), "--out", args.out]
        log = open(os.path.join(folder, f"{side}.log"), "w")  # closed after the wait
        procs[side] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    out: dict = {"seed": seed}
    for side, (proc, log) in procs.items():
        rc = proc.wait()
        log.close()
        path = os.path.join(folder, f"{side}.json")
        if rc == 0 and os.path.exists(path):
            with open(path) as f:
                out[side] = json.load(f)
        else:
            out[side] = {"error": f"exit {rc}, see {os.path.join(folder, side + '.log')}"}
    return out


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


def task_table(task: str, rows: list[dict], args: argparse.Namespace, floor=None) -> str:
    """Markdown of one task: every seed, the medians, the wall time of each side, notes."""
    if task == "digits":
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
    else:
        cols = DSR_COLS
        head = (
            f"### {task}: echo state network vs MTF ({args.budget:g} s)\n\n"
            f"ESN search space: {load_script('peer_models').space_text()}; chosen per seed by "
            f"D_stsp + D_H of a free run against the last {args.valid_steps} training steps "
            "(the read-out's one-step residual noise added to it), search and final run within "
            f"the budget. MTF: configs/mtf_{task}.yaml with fit.max_time={args.budget:g}. "
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
        notes.append(
            f"floor (the noise-free training half against the tail): D_stsp {floor[0]:.4f}, "
            f"D_H {floor[1]:.3f}"
        )
    return "\n".join([*lines, *([""] if notes else []), *(f"- {n}" for n in notes)]) + "\n"


def dsr_floor(task: str, args: argparse.Namespace) -> tuple[float, float]:
    """The noise-free training half scored against the held-out half."""
    _, truth_path, key = dsr_files(task, args)
    with np.load(truth_path) as f:
        truth = np.asarray(f[key], dtype=np.float64)
    cut = truth.shape[0] // 2
    return load_script("peer_models").scores(truth[cut:], truth[:cut], 20.0)


def replace_section(text: str, header: str, body: str) -> str:
    """``text`` with the level-2 section ``header`` replaced by ``body`` (up to the next level-2
    heading), or ``body`` inserted before the first level-2 section (newest first) if absent."""
    lines = text.splitlines(keepends=True)
    new = [body.rstrip("\n") + "\n", "\n"]
    starts = [i for i, line in enumerate(lines) if line.startswith("## ")]
    mine = [i for i in starts if lines[i].rstrip("\n") == header]
    if mine:
        end = next((i for i in starts if i > mine[0]), len(lines))
        return "".join(lines[: mine[0]] + new + lines[end:])
    if not starts:
        return (text.rstrip("\n") + "\n\n" if text.strip() else "") + "".join(new)
    return "".join(lines[: starts[0]] + new + lines[starts[0] :])


def machine() -> str:
    cpu = platform.processor() or ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{platform.machine()} (`uname -m`), {os.cpu_count()} cores ({cpu})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--sides", nargs="+", choices=("pyrodyn", "peer"), default=["pyrodyn", "peer"])
    p.add_argument("--budget", type=float, default=180.0, help="wall s per side, DSR tasks")
    p.add_argument("--digits-budget", type=float, default=60.0, help="wall s of MM-GPVAE")
    p.add_argument("--steps", type=int, default=50_000, help="generated steps scored")
    p.add_argument("--burn-in", type=int, default=1000)
    p.add_argument("--valid-steps", type=int, default=10_000, help="ESN selection segment")
    p.add_argument("--digits-trials", type=int, default=260)
    p.add_argument("--digits-test", type=int, default=60)
    p.add_argument("--digits-steps", type=int, default=50)
    p.add_argument("--l63-data", default="/work/shared/data/mtf-lorenz63/train_noisy.npz")
    p.add_argument("--l63-truth", default="/work/shared/data/mtf-lorenz63/train.npz")
    p.add_argument("--pyrodyn-set", action="append", help="extra --set for pyrodyn fit (DSR)")
    p.add_argument(
        "--digits-args", help="options of scripts/bench_mmgpvae.py for the MM-GPVAE side (quoted)"
    )
    p.add_argument("--out", default="runs/bench-peers")
    p.add_argument("--write-benchmarks", action="store_true", help=f"write '{SECTION}'")
    p.add_argument("--worker", nargs=3, metavar=("SIDE", "TASK", "SEED"), help=argparse.SUPPRESS)
    return p


def main() -> None:
    args = build_parser().parse_args()
    if args.worker:  # one side of one seed: the settings are the orchestrator's
        side, task, seed = args.worker
        with open(os.path.join(args.out, "args.json")) as f:
            args = argparse.Namespace(**json.load(f)["args"])
        res = worker(side, task, int(seed), args)
        with open(os.path.join(args.out, task, f"seed{seed}", f"{side}.json"), "w") as f:
            json.dump(res, f, indent=1)
        return
    if "peer" in args.sides:
        require_peers(args.tasks)
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    with open(os.path.join(args.out, "args.json"), "w") as f:
        json.dump({"args": vars(args), "command": command}, f, indent=1)
    started = datetime.now(timezone.utc)
    results, parts = {}, []
    for task in args.tasks:
        floor = None
        if task != "digits":
            path = dsr_files(task, args)[0]
            if not os.path.exists(path):
                cmd = [sys.executable, "-m", "pyrodyn", "data", task, "--out", path]
                subprocess.run(cmd, check=True, env=dict(os.environ, **THREADS))
            floor = dsr_floor(task, args)
        rows = []
        for seed in args.seeds:
            rows.append(run_pair(task, seed, args))
            print(json.dumps({"task": task, **rows[-1]}, default=str)[:2000], flush=True)
        results[task] = {"rows": rows, "floor": floor}
        parts.append(task_table(task, rows, args, floor))
        print(parts[-1], flush=True)
    body = "\n".join(
        [
            SECTION,
            "",
            f"Machine: {machine()}; {started:%Y-%m-%d %H:%M} UTC. Each seed runs the pyrodyn fit "
            "and the peer at the same time, one process each with OMP/MKL/OPENBLAS_NUM_THREADS=1 "
            "and the same wall-clock budget. Command:",
            "",
            f"    {command}",
            "",
            *parts,
        ]
    )
    with open(os.path.join(args.out, "peers.md"), "w") as f:
        f.write(body)
    with open(os.path.join(args.out, "peers.json"), "w") as f:
        summary = {"command": command, "started": started.isoformat(), "tasks": results}
        json.dump(summary, f, indent=1, default=str)
    if args.write_benchmarks:
        path = ROOT / "BENCHMARKS.md"
        path.write_text(replace_section(path.read_text(), SECTION, body))
        print(f"wrote the section '{SECTION}' of {path}")


if __name__ == "__main__":
    main()

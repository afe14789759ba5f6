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
* ``lorenz63_op`` / ``lorenz63_labels`` (issue 17 item 3, reconstruction from channels that do
  not show the state): Lorenz-63 from the 8 ordinal + 3 Poisson channels alone of the shipped
  ``train_noisy.npz`` (truth: the noise-free ``gaussian`` of ``train.npz``, the z-scored state),
  and from the 8-class one-hot octant labels alone of ``pyrodyn data lorenz63_symbolic`` (its
  own simulation, dt 0.05, 100000 steps; truth: its ``true_state``, the noise-free z-scored
  state). Train on the first 50000 steps, score steps 50000-99999. Score of both sides:
  D_stsp (10 bins +-2 sd) of a free-running latent trajectory (``--steps`` after ``--burn-in``)
  after a least-squares **affine map to the true state fitted on the training part**
  (``pyrodyn.metrics.latent_affine.affine_latent_d_stsp``); no D_H. pyrodyn: the shipped
  configs ``mtf_lorenz63_ordinal_poisson`` / ``mtf_lorenz63_symbolic`` with
  ``fit.max_time=--budget``; the map goes from the encoder latents of the training steps (first
  K units) to the true training state and is applied to the generated latent (bench_mtf.py
  ``--latent --align affine``). Peer: the ESN fed the codes as numbers (11 channels: ordinal
  codes and counts; 8 one-hot channels for the labels), z-scored per channel on the training
  part, trained for one-step prediction of them, hyper-parameters chosen as for ``lorenz63`` on
  the codes of the training part only, free-running. Its **reservoir state** is the analogue of
  pyrodyn's latent (the state the model runs forward; the read-out plays the decoder): the map
  goes from the teacher-forced reservoir states of the training part to the true training state
  and is applied to the free-run reservoir states (scripts/peer_models.py ``run_esn_latent``;
  the same score of its predicted channels is reported beside it).
* ``digits``: the rotating digits + Poisson spikes simulation of scripts/bench_mmgpvae.py;
  latents scored by affine maps fitted on the training trials, R^2 on the held-out trials.
  Peer: elephant GPFA on the spikes alone; pyrodyn: MM-GPVAE with ``fit.max_time=--digits-budget``.

Peers come from the optional extra ``pip install "pyrodyn[peers]"``; the library never imports
them. Usage::

    .venv/bin/python scripts/bench_peers.py --seeds 0 1 2 --out runs/bench-peers --write-benchmarks
    .venv/bin/python scripts/bench_peers.py --tasks lorenz63 --seeds 0 --sides peer   # ESN alone
    .venv/bin/python scripts/bench_peers.py --tasks lorenz63_op lorenz63_labels --seeds 0 1 2
    # a wider read-out ridge grid for the ESN (stated in the tables): --esn-ridges 1e-6 1e-4 1e-2 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("lorenz63", "rossler", "lorenz96", "lorenz63_op", "lorenz63_labels", "digits")
#: tasks scored on a latent trajectory after an affine map to the true state (item 3)
LATENT_TASKS = ("lorenz63_op", "lorenz63_labels")
#: DSR task -> the shipped config of the pyrodyn side
CONFIGS = {
    "lorenz63": "mtf_lorenz63",
    "rossler": "mtf_rossler",
    "lorenz96": "mtf_lorenz96",
    "lorenz63_op": "mtf_lorenz63_ordinal_poisson",
    "lorenz63_labels": "mtf_lorenz63_symbolic",
}
#: DSR task -> the arrays of its training file that both sides see (default: gaussian)
INPUTS = {"lorenz63_op": ("ordinal", "poisson"), "lorenz63_labels": ("octant",)}
#: DSR task -> the `pyrodyn data` set written for it (tasks on the shipped recording: none)
DATASETS = {"rossler": "rossler", "lorenz96": "lorenz96", "lorenz63_labels": "lorenz63_symbolic"}
PEER_PACKAGES = {"dsr": ("reservoirpy",), "digits": ("elephant", "neo", "quantities")}
SECTION = "## Peers side by side (issue 17)"
MARKER = re.compile(r"<!-- bench_peers task: (\S+) -->")
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
    if task not in DATASETS:  # the shipped recording
        return args.l63_data, args.l63_truth, "gaussian"
    path = os.path.join(args.out, "data", f"{DATASETS[task]}.npz")
    return path, path, "true_state"


def read_inputs(path: str, keys: tuple[str, ...]) -> np.ndarray:
    """The arrays ``keys`` of ``path`` side by side, ``(T, channels)`` float64, in that order."""
    with np.load(path) as f:
        missing = [k for k in keys if k not in f.files]
        if missing:
            raise ValueError(f"{path} has no array {missing}; it holds {sorted(f.files)}")
        cols = [np.asarray(f[k], dtype=np.float64) for k in keys]
    cols = [c[:, None] if c.ndim == 1 else c for c in cols]
    if any(c.ndim != 2 or c.shape[0] != cols[0].shape[0] for c in cols):
        shapes = {k: c.shape for k, c in zip(keys, cols)}
        raise ValueError(f"{path}: the arrays {shapes} are not (T, channels) of one length T")
    return np.hstack(cols)


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
    inputs = INPUTS.get(task, ("gaussian",))
    if side == "peer":
        peers = load_script("peer_models")
        u = read_inputs(data_path, inputs)
        with np.load(truth_path) as f:
            truth = np.asarray(f[truth_key], dtype=np.float64)
        cut = u.shape[0] // 2  # the shipped configs' data.valid_fraction 0.5
        if task in LATENT_TASKS:
            return peers.run_esn_latent(u[:cut], truth[:cut], truth[cut:], seed, args, t0)
        return peers.run_esn(u[:cut], truth[cut:], seed, args, t0)
    mtf = load_script("bench_mtf")
    ns = argparse.Namespace(
        config=str(ROOT / "configs" / f"{config_of(task, args)}.yaml"),
        data=data_path,
        truth=truth_path,
        truth_key=truth_key,
        modality=inputs[0],
        seeds=[seed],
        max_time=args.budget,
        steps=args.steps,
        burn_in=args.burn_in,
        set=args.pyrodyn_set,
        out=os.path.join(args.out, task, f"seed{seed}", "pyrodyn"),
        latent=task in LATENT_TASKS,
        align="affine",
        jobs=1,
    )
    os.makedirs(ns.out, exist_ok=True)
    cmd, wall = mtf._fit_all(ns)[seed]
    res = mtf._evaluate(ns, os.path.join(ns.out, f"seed{seed}"))
    return res | {"wall_s": wall, "command": shlex.join(cmd)}


def config_of(task: str, args: argparse.Namespace) -> str:
    """The pyrodyn side's config of a task: ``--pyrodyn-config TASK=NAME`` or :data:`CONFIGS`."""
    chosen = dict(CONFIGS)
    for item in getattr(args, "pyrodyn_config", None) or []:
        name, sep, config = item.partition("=")
        if not sep or name not in CONFIGS or not (ROOT / "configs" / f"{config}.yaml").exists():
            raise SystemExit(
                f"--pyrodyn-config takes TASK=CONFIG with TASK in {sorted(CONFIGS)} and a shipped "
                f"config name; got {item!r}"
            )
        chosen[name] = config
    return chosen.get(task, "")


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


def task_table(task: str, rows: list[dict], args: argparse.Namespace, floor=None) -> str:
    """Markdown of one task (scripts/peer_tables.py): every seed, the medians, the wall time of
    each side, notes."""
    kind = "digits" if task == "digits" else "latent" if task in LATENT_TASKS else "dsr"
    space = "" if kind == "digits" else load_script("peer_models").space_text(args)
    return load_script("peer_tables").task_table(
        task, rows, args, floor, kind=kind, config=config_of(task, args), space=space
    )


def dsr_floor(task: str, args: argparse.Namespace) -> tuple[float, float | None]:
    """The noise-free training half scored against the held-out half (D_stsp, D_H); for a
    latent task as its latents are (the map then is the identity), without D_H."""
    _, truth_path, key = dsr_files(task, args)
    with np.load(truth_path) as f:
        truth = np.asarray(f[key], dtype=np.float64)
    cut = truth.shape[0] // 2
    if task in LATENT_TASKS:
        from pyrodyn.metrics.latent_affine import affine_latent_d_stsp

        pair = {"fit_latent": truth[:cut], "fit_state": truth[:cut]}
        return affine_latent_d_stsp(truth[:cut], truth[cut:], **pair), None
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


def task_blocks(text: str, header: str = SECTION) -> dict[str, str]:
    """The per-task blocks of the section ``header`` of ``text`` (each from its marker line, see
    :func:`task_block`, to the next marker or the end of the section), by task; ``{}`` if the
    section is absent."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("## ")]
    mine = [i for i in starts if lines[i].rstrip("\n") == header]
    if not mine:
        return {}
    end = next((i for i in starts if i > mine[0]), len(lines))
    blocks: dict[str, list[str]] = {}
    current = None
    for line in lines[mine[0] + 1 : end]:
        found = MARKER.fullmatch(line.rstrip("\n"))
        if found:
            current = found.group(1)
            blocks[current] = []
        if current is not None:
            blocks[current].append(line)
    return {task: "".join(b).rstrip("\n") + "\n" for task, b in blocks.items()}


def task_block(task: str, table: str, command: str, started: datetime) -> str:
    """One task's table with its marker and the run that produced it."""
    return (
        f"<!-- bench_peers task: {task} -->\n{table.rstrip()}\n\n"
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}:\n\n    {command}\n"
    )


def section_body(blocks: dict[str, str]) -> str:
    """The section: its preamble, then the task blocks in the order of :data:`TASKS`."""
    order = sorted(blocks, key=lambda t: (TASKS.index(t) if t in TASKS else len(TASKS), t))
    intro = (
        "Each seed runs the pyrodyn fit and the peer at the same time, one process each with "
        "OMP/MKL/OPENBLAS_NUM_THREADS=1 and the same wall-clock budget. "
        "`scripts/bench_peers.py --write-benchmarks` replaces the tables of the tasks it ran and "
        "keeps the others; each table names the command and the machine that produced it."
    )
    return "\n".join([SECTION, "", intro, "", *(blocks[t].rstrip("\n") + "\n" for t in order)])


def write_tasks(text: str, blocks: dict[str, str]) -> str:
    """``text`` with the task blocks ``blocks`` written into :data:`SECTION`; the blocks of the
    tasks not in ``blocks`` stay as they were."""
    return replace_section(text, SECTION, section_body(task_blocks(text) | blocks))


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
    p.add_argument(
        "--esn-ridges",
        type=float,
        nargs="+",
        help="read-out ridges the ESN search tries (default: peer_models.SPACE's)",
    )
    p.add_argument("--digits-trials", type=int, default=260)
    p.add_argument("--digits-test", type=int, default=60)
    p.add_argument("--digits-steps", type=int, default=50)
    p.add_argument("--l63-data", default="/work/shared/data/mtf-lorenz63/train_noisy.npz")
    p.add_argument("--l63-truth", default="/work/shared/data/mtf-lorenz63/train.npz")
    p.add_argument("--pyrodyn-set", action="append", help="extra --set for pyrodyn fit (DSR)")
    p.add_argument(
        "--pyrodyn-config",
        action="append",
        metavar="TASK=CONFIG",
        help="a shipped config for a DSR task's pyrodyn side (default: CONFIGS)",
    )
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
    for task in args.tasks:
        config_of(task, args)  # a bad --pyrodyn-config fails before any run
    if "peer" in args.sides:
        require_peers(args.tasks)
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    with open(os.path.join(args.out, "args.json"), "w") as f:
        json.dump({"args": vars(args), "command": command}, f, indent=1)
    started = datetime.now(timezone.utc)
    results: dict = {}
    blocks: dict[str, str] = {}
    for task in args.tasks:
        floor = None
        if task != "digits":
            path = dsr_files(task, args)[0]
            if not os.path.exists(path):
                cmd = [sys.executable, "-m", "pyrodyn", "data", DATASETS[task], "--out", path]
                subprocess.run(cmd, check=True, env=dict(os.environ, **THREADS))
            floor = dsr_floor(task, args)
        rows = []
        for seed in args.seeds:
            rows.append(run_pair(task, seed, args))
            print(json.dumps({"task": task, **rows[-1]}, default=str)[:2000], flush=True)
        results[task] = {"rows": rows, "floor": floor}
        blocks[task] = task_block(task, task_table(task, rows, args, floor), command, started)
        print(blocks[task], flush=True)
    with open(os.path.join(args.out, "peers.md"), "w") as f:
        f.write(section_body(blocks))
    with open(os.path.join(args.out, "peers.json"), "w") as f:
        summary = {"command": command, "started": started.isoformat(), "tasks": results}
        json.dump(summary, f, indent=1, default=str)
    if args.write_benchmarks:
        path = ROOT / "BENCHMARKS.md"
        path.write_text(write_tasks(path.read_text(), blocks))
        print(f"wrote the section '{SECTION}' of {path}")


if __name__ == "__main__":
    main()

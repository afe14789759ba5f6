"""Mean-field vs structured guide on sequence posteriors, and the time of ``pyrodyn diagnose``.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_guides.py [--write] [--max-time 60]

* LGSSM (:func:`pyrodyn.testing.lgssm.lgssm_svae`: an SVAE that is a linear-Gaussian
  state-space model with frozen random generative parameters): ``--lgssm-seqs`` sequences of
  ``--lgssm-steps`` steps are simulated from it, and for each guide family only the encoder and
  the family are fitted (``--fit-steps`` Adam steps, 4 particles, clipped, cosine schedule). Then
  the ELBO and IWAE(K) per step from ``K`` guide draws per sequence against the exact
  ``log p(x)`` of the Kalman filter, and PSIS k-hat per sequence
  (:func:`pyrodyn.diagnostics.importance_diagnostics`, what ``pyrodyn diagnose`` computes per
  window).
* Lorenz-63 SVAE: ``pyrodyn data lorenz63``, ``pyrodyn fit svae_lorenz63`` for ``--max-time``
  seconds with the mean-field and with the structured guide (``model.guide_family``), one after
  the other, then ``pyrodyn diagnose RUN --no-figures`` (its defaults: 64 windows x 100 draws,
  SBC 200 x 99, LFO 20 origins x 4 windows) under ``/usr/bin/time -v``; k-hat per window is read
  from ``diagnostics.json``.

Prints markdown; ``--write`` puts it into BENCHMARKS.md as the section ``SECTION`` (replacing it
when present, otherwise before the first ``## `` section; the rest of the file is kept
byte-identical). The measurements are saved to ``OUT/bench_guides.json``; ``--render FILE``
prints (and with ``--write`` writes) the section of saved results without measuring again.
Run it on an otherwise idle machine: the fits and the timings share the CPU.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Sequence posteriors: guides and diagnose time (issue 14)"
FAMILIES = ("mean_field", "structured")
KHAT = 0.7
VERDICTS = ("SBC", "LFO", "PPC", "k-hat")

#: Diagnose time measured before this script, by hand (quoted, not re-measured).
EARLIER = """\
Measured earlier by hand with `/usr/bin/time -v` on this 2-core machine, for the Lorenz-63 SVAE
run of issue 14 (`pyrodyn fit svae_lorenz63`, 60 s) diagnosed with 64 windows x 100 draws
(quoted, not re-measured by this script):

- as the issue was filed: 433 s.
- before commit 10b2a60: 117.6 s wall, 108.9 s CPU, without SBC and LFO and with the
  amortisation gap on (the default then).
- after (commit 10b2a60: draws as one Pyro plate over particles, `MarkovGaussian` without
  per-draw copies, the amortisation gap opt-in): 26.2 / 27.3 / 29.9 s wall, 24.6-27.9 s CPU, with
  SBC (200 simulations x 99 draws) and LFO (20 origins x 4 windows) included, load average
  2.1-2.9 (the machine was not idle).
"""


# ---------------------------------------------------------------------------------------------
# LGSSM


def fit_guide(model, batch, steps: int, seed: int) -> float:
    """Adam on the encoder and guide family only (the generative part is the LGSSM); seconds."""
    from pyrodyn.objectives import TraceELBO
    from pyrodyn.testing.lgssm import fit_encoder

    model.elbo = TraceELBO(num_particles=4, vectorize_particles=True)
    start = time.perf_counter()
    fit_encoder(model, batch, steps, seed=seed, cosine=True)
    return time.perf_counter() - start


def khat_stats(khat: np.ndarray) -> dict:
    """Median, quartiles and count above 0.7 (inf counts as above)."""
    k = np.asarray(khat, dtype=np.float64)
    q1, med, q3 = np.quantile(k, [0.25, 0.5, 0.75])
    return {"q1": q1, "median": med, "q3": q3, "above": int((k > KHAT).sum()), "n": k.size}


def lgssm_rows(args: argparse.Namespace) -> list[dict]:
    from pyrodyn.diagnostics import importance_diagnostics, kalman_filter
    from pyrodyn.priors.structured import StructuredMarkov
    from pyrodyn.testing.lgssm import lgssm_batch, lgssm_svae

    rows = []
    d, t = args.lgssm_dim, args.lgssm_steps
    for family in FAMILIES:
        model, ssm = lgssm_svae(d, args.lgssm_obs, seed=args.seed)
        if family == "structured":
            model.guide_family = StructuredMarkov(d).to(torch.float64)
        _, y = ssm.sample(args.lgssm_seqs, t, torch.Generator().manual_seed(args.seed + 1))
        batch = lgssm_batch(model, y)
        fit_s = fit_guide(model, batch, args.fit_steps, args.seed)
        exact = kalman_filter(ssm, y).log_marginal.numpy()
        torch.manual_seed(args.seed)
        imp = importance_diagnostics(model, batch, num_particles=args.draws)
        stats = khat_stats(imp.khat)
        rows.append(
            {
                "family": family,
                "fit_s": fit_s,
                "exact": float(exact.mean()) / t,
                "elbo": float(imp.elbo.mean()) / t,
                "iwae": float(imp.iwae.mean()) / t,
                "ess": float(np.median(imp.ess)),
                **stats,
            }
        )
        print(f"LGSSM {family}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def lgssm_table(rows: list[dict], args: argparse.Namespace) -> str:
    out = [
        f"| guide | fit s | exact log p(x) / step | ELBO / step | gap ELBO | "
        f"gap IWAE({args.draws}) | k-hat median | k-hat q1-q3 | k-hat > {KHAT} | "
        f"ESS median (of {args.draws}) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['family']} | {r['fit_s']:.0f} | {r['exact']:.4f} | {r['elbo']:.4f} | "
            f"{r['exact'] - r['elbo']:.4f} | {r['exact'] - r['iwae']:.4f} | "
            f"{r['median']:.2f} | {r['q1']:.2f}-{r['q3']:.2f} | {r['above']} of {r['n']} | "
            f"{r['ess']:.1f} |"
        )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Lorenz-63 SVAE runs


def pyrodyn_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "pyrodyn", *argv]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return proc


def uptime() -> str:
    """The load averages, as ``uptime`` prints them."""
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout
    m = re.search(r"load average:\s*(.*)$", out.strip())
    return m.group(1) if m else out.strip()


def time_v(stderr: str) -> dict:
    """Wall, user + system CPU seconds and peak RSS from ``/usr/bin/time -v``."""

    def field(name: str) -> str:
        m = re.search(rf"{re.escape(name)}: (.*)", stderr)
        if m is None:
            sys.exit(f"/usr/bin/time -v printed no {name!r}")
        return m.group(1).strip()

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = 60.0 * wall + float(part)
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_gib": int(field("Maximum resident set size (kbytes)")) / 2**20,
    }


def fit_record(run_dir: Path) -> dict:
    """Steps, seconds and KL weight ``beta`` (None: not scheduled) of the last row of
    ``history.csv``."""
    with open(run_dir / "history.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    beta = last.get("schedule.beta")
    return {
        "steps": int(float(last["step"])),
        "fit_time": float(last["time"]),
        "beta": float(beta) if beta else None,
    }


def lorenz_rows(args: argparse.Namespace) -> list[dict]:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = out / "lorenz63.npz"
    if not (args.reuse and data.exists()):
        run(pyrodyn_cmd("data", "lorenz63", "--out", str(data)))
    rows = []
    for family in FAMILIES:
        run_dir = out / f"svae-{family}"
        if not (args.reuse and (run_dir / "history.csv").exists()):
            if run_dir.exists() and any(run_dir.iterdir()):
                sys.exit(f"{run_dir} exists: remove it, or pass --reuse to diagnose it again")
            sets = [f"data.path={data}", f"fit.max_time={args.max_time}"]
            sets.append(f"model.guide_family={family}")
            argv = ["fit", "svae_lorenz63", *(a for s in sets for a in ("--set", s))]
            run(pyrodyn_cmd(*argv, "--out", str(run_dir)))
        load_before = uptime()
        proc = run(["/usr/bin/time", "-v", *pyrodyn_cmd("diagnose", str(run_dir), "--no-figures")])
        load_after = uptime()
        summary = json.loads((run_dir / "diagnostics" / "diagnostics.json").read_text())
        per = summary["importance"]["per_trial"]
        stats = khat_stats(np.array([r["khat"] for r in per]))
        # verdicts() answers the four questions in this order
        statuses = dict(zip(VERDICTS, (v["status"] for v in summary.get("verdicts", []))))
        rows.append(
            {
                "family": family,
                **fit_record(run_dir),
                **stats,
                "ess": float(np.median([r["ess"] for r in per])),
                "windows": len(per),
                "draws": summary["num_samples"],
                "verdicts": statuses,
                "load_before": load_before,
                "load_after": load_after,
                **time_v(proc.stderr),
            }
        )
        print(f"Lorenz-63 {family}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def lorenz_tables(rows: list[dict]) -> str:
    out = [
        f"| guide | fit steps in {rows[0]['fit_time']:.0f} s | KL weight beta at the end | "
        f"k-hat median | k-hat q1-q3 | k-hat > {KHAT} | ESS median (of {rows[0]['draws']}) | "
        "verdicts (diagnostics.md) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdicts = ", ".join(f"{c} {s}" for c, s in r["verdicts"].items())
        beta = "-" if r["beta"] is None else f"{r['beta']:.2f}"
        out.append(
            f"| {r['family']} | {r['steps']} | {beta} | {r['median']:.2f} | "
            f"{r['q1']:.2f}-{r['q3']:.2f} | {r['above']} of {r['windows']} | {r['ess']:.1f} | "
            f"{verdicts} |"
        )
    out += [
        "",
        "| guide | diagnose wall s | CPU s (user + sys) | peak RSS GiB | load average before | "
        "after |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['family']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_gib']:.2f} | "
            f"{r['load_before']} | {r['load_after']} |"
        )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# The section


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = f" ({line.split(':', 1)[1].strip()})"
                break
    except OSError:
        pass
    return f"{platform.machine()} (`uname -m`), {os.cpu_count()} cores{cpu}"


def lorenz_notes(rows: list[dict]) -> list[str]:
    """What the Lorenz-63 rows say beyond their numbers (only what the numbers support)."""
    by = {r["family"]: r for r in rows}
    notes = []
    mf, st = by.get("mean_field"), by.get("structured")
    if mf and st and st["steps"] < mf["steps"]:
        note = (
            f"- In the same {st['fit_time']:.0f} s the structured guide took {st['steps']} fit "
            f"steps and the mean-field guide {mf['steps']} ({mf['steps'] / st['steps']:.1f}x "
            "as many): the structured guide's sampling and log-density loop over the window's "
            "steps in Python, mean-field's do not."
        )
        if st["beta"] is not None and st["beta"] < 1.0:
            note += (
                f" The structured fit stopped inside the KL warm-up (beta {st['beta']:.2f} of "
                "1.0, the mean-field fit at "
                f"{'-' if mf['beta'] is None else format(mf['beta'], '.2f')}), so its k-hat "
                "judges an unfinished fit rather than the guide family."
            )
        notes.append(note)
    busy = [r for r in rows if r["wall"] > 1.1 * r["cpu"]]
    if busy:
        gaps = ", ".join(f"{r['family']} {r['wall'] - r['cpu']:.1f} s" for r in busy)
        notes.append(
            f"- Diagnose wall time exceeds CPU time ({gaps}): the machine was not idle (load "
            "average in the table); one thread's CPU time is what the diagnostics cost."
        )
    return notes


def section(results: dict) -> str:
    """The BENCHMARKS.md section of saved results (see :func:`measure`)."""
    args = argparse.Namespace(**results["args"])
    meta = results["meta"]
    lgssm, lorenz = results["lgssm"], results["lorenz"]
    parts = [
        SECTION,
        "",
        "Does the structured guide (`model.guide_family: structured`, a backward-Markov Gaussian "
        "over the whole trajectory) make the per-window importance diagnostics usable where the "
        "mean-field guide cannot, and how long does `pyrodyn diagnose` take?",
        "",
        "### Diagnose time: earlier measurements",
        "",
        EARLIER.rstrip(),
        "",
    ]
    if lgssm:
        parts += [
            "### LGSSM: ELBO gap to the exact log p(x) and k-hat per sequence",
            "",
            f"`lgssm_svae({args.lgssm_dim}, {args.lgssm_obs}, seed={args.seed})` (D = "
            f"{args.lgssm_dim}, {args.lgssm_obs} Gaussian channels, frozen generative "
            f"parameters), {args.lgssm_seqs} simulated sequences of {args.lgssm_steps} steps; "
            f"encoder and guide family fitted for {args.fit_steps} Adam steps (lr 0.02, cosine, "
            "4 particles, clip 5). Exact log p(x) from the Kalman filter; ELBO, "
            f"IWAE({args.draws}) and PSIS k-hat from {args.draws} guide draws per sequence "
            "(`importance_diagnostics`, as `pyrodyn diagnose` per window). Gaps in nats per step "
            "(mean over sequences).",
            "",
            lgssm_table(lgssm, args),
            "",
        ]
    if lorenz:
        parts += [
            "### Lorenz-63 SVAE: k-hat per window and diagnose time",
            "",
            f"`pyrodyn fit svae_lorenz63 --set fit.max_time={args.max_time:g}` on `pyrodyn data "
            "lorenz63`, mean-field (`model.guide_family=mean_field`, the default) and structured "
            "(`model.guide_family=structured`), fitted one after the other; then `/usr/bin/time "
            "-v pyrodyn diagnose RUN --no-figures` with its defaults (64 windows x 100 draws, "
            "SBC 200 x 99, PSIS-LFO 20 origins x 4 windows of the validation tail, no "
            f"amortisation gap), OMP_NUM_THREADS={meta['threads']}. k-hat and ESS per window "
            "from `diagnostics.json`.",
            "",
            lorenz_tables(lorenz),
            "",
        ]
        notes = lorenz_notes(lorenz)
        if notes:
            parts += [*notes, ""]
    parts += [
        f"Run {meta['when']} on {meta['machine']}, Python {meta['python']}, torch {meta['torch']}:",
        "",
        f"    {meta['cmd']}",
        "",
    ]
    return "\n".join(parts)


def write_section(path: Path, text: str) -> None:
    """Replaces ``SECTION`` in ``path`` or inserts it before the first ``## `` section."""
    old = path.read_text()
    lines = old.splitlines(keepends=True)
    heads = [i for i, line in enumerate(lines) if line.startswith("## ")]
    body = text if text.endswith("\n\n") else text.rstrip("\n") + "\n\n"
    mine = [i for i in heads if lines[i].rstrip("\n") == SECTION]
    if mine:
        start = mine[0]
        after = [i for i in heads if i > start]
        end = after[0] if after else len(lines)
    elif heads:
        start = end = heads[0]
    else:
        start = end = len(lines)
    if start == end == len(lines) and old and not old.endswith("\n\n"):
        body = ("\n" if old.endswith("\n") else "\n\n") + body
    path.write_text("".join(lines[:start]) + body + "".join(lines[end:]))


def measure(args: argparse.Namespace) -> dict:
    """Runs the benchmarks; plain-data results (saved next to the runs, rendered by
    :func:`section`)."""
    cmd = shlex.join([".venv/bin/python", "scripts/bench_guides.py", *sys.argv[1:]])
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        cmd = f"OMP_NUM_THREADS={threads} {cmd}"
    lgssm = [] if args.skip_lgssm else lgssm_rows(args)
    lorenz = [] if args.skip_lorenz else lorenz_rows(args)
    keep = ("max_time", "lgssm_dim", "lgssm_obs", "lgssm_seqs", "lgssm_steps", "fit_steps")
    return {
        "args": {k: getattr(args, k) for k in (*keep, "draws", "seed")},
        "meta": {
            "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": threads or "unset",
            "cmd": cmd,
        },
        "lgssm": lgssm,
        "lorenz": lorenz,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench-guides", help="data and run directories")
    parser.add_argument("--max-time", type=float, default=60, help="seconds per Lorenz-63 fit")
    parser.add_argument("--reuse", action="store_true", help="keep existing data and runs")
    parser.add_argument("--skip-lgssm", action="store_true")
    parser.add_argument("--skip-lorenz", action="store_true")
    parser.add_argument("--lgssm-dim", type=int, default=2)
    parser.add_argument("--lgssm-obs", type=int, default=3)
    parser.add_argument("--lgssm-seqs", type=int, default=64)
    parser.add_argument("--lgssm-steps", type=int, default=100)
    parser.add_argument("--fit-steps", type=int, default=500, help="LGSSM guide fit steps")
    parser.add_argument("--draws", type=int, default=100, help="LGSSM guide draws per sequence")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--render",
        type=Path,
        help="print (and with --write, write) the section of saved results "
        "(OUT/bench_guides.json) without measuring",
    )
    parser.add_argument("--write", action="store_true", help="write the BENCHMARKS.md section")
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    if args.render is not None:
        results = json.loads(args.render.read_text())
    else:
        torch.set_num_threads(1)
        results = measure(args)
        saved = Path(args.out).resolve() / "bench_guides.json"
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"results saved to {saved}", file=sys.stderr)
    text = section(results)
    print(text)
    if args.write:
        write_section(args.benchmarks, text)
        print(f"wrote {SECTION!r} into {args.benchmarks}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

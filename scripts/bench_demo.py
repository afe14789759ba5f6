"""`pyrodyn demo` on a busy machine: one core kept busy by a spinning process, seeds in turn.

Usage::

    .venv/bin/python scripts/bench_demo.py --seeds 0 1 2 --out runs/bench-demo

Prints, per seed, the demo's own wall time, training steps, D_stsp, D_H and verdict (the
command's JSON summary), then the medians. The spinning process runs for the whole benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default="runs/bench-demo")
    p.add_argument("--no-load", action="store_true", help="do not keep a core busy")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more demo arguments")
    args = p.parse_args()
    pyrodyn = os.path.join(os.path.dirname(sys.executable), "pyrodyn")
    spinner = None
    if not args.no_load:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    rows = []
    try:
        for seed in args.seeds:
            out = os.path.join(args.out, f"seed{seed}")
            shutil.rmtree(out, ignore_errors=True)
            cmd = [pyrodyn, "demo", "--seed", str(seed), "--out", out, *args.extra]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
            summary = json.loads(done.stdout)
            m = summary["metrics"]
            rows.append((seed, wall, summary["steps"], m["d_stsp"], m["d_h"], summary["verdict"]))
            print(f"seed {seed}: {wall:.0f} s, {summary['steps']} steps "
                  f"({summary['stopped_reason']}), D_stsp {m['d_stsp']:.3f}, D_H {m['d_h']:.3f}; "
                  f"{summary['verdict']}", flush=True)  # fmt: skip
    finally:
        if spinner is not None:
            spinner.kill()
    print("| seed | wall s | steps | D_stsp | D_H |\n|---|---|---|---|---|")
    for seed, wall, steps, ds, dh, _ in rows:
        print(f"| {seed} | {wall:.0f} | {steps} | {ds:.3f} | {dh:.3f} |")
    print(f"median D_stsp {statistics.median(r[3] for r in rows):.3f}, "
          f"median D_H {statistics.median(r[4] for r in rows):.3f}, "
          f"max wall {max(r[1] for r in rows):.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()

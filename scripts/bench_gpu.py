"""GPU check and throughput: the test suite on ``--device cuda``, MTF / MM-GPVAE steps per second.

GPU time is rare and short here, so the whole script is one prepared run of under 10 minutes:

1. ``pytest -q -m "not slow" --device cuda`` (the device-parametrised tests; stops at the first
   failure), with a time limit;
2. training throughput of the shipped ``mtf_lorenz63`` and ``mmgpvae_digits`` configs at the
   shipped batch size and at large batches, on CUDA and on the CPU (one thread), measured as the
   median seconds per step of ``pyrodyn fit`` after a warm-up, model selection off.

Without CUDA it says so and exits 0, so that it can sit in any job script. ``--write`` puts the
table into BENCHMARKS.md (section "GPU throughput") with the device, the date and the command.

Usage::

    python scripts/bench_gpu.py --write          # on the GPU machine
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

SECTION = "## GPU throughput (issue 17 item 7)"

# (config, data set, shipped batch size, larger batches)
MODELS = [
    ("mtf_lorenz63", "lorenz63", 32, [256, 1024]),
    ("mmgpvae_digits", "rotating_digits", 20, [100, 240]),
]


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else err.stdout or ""
        return 124, out
    return proc.returncode, proc.stdout + proc.stderr


def _seconds_per_step(
    config: str, data: str, batch: int, device: str, steps: int, tmp: str
) -> float:
    """Median seconds per step of ``pyrodyn fit`` after the first fifth of the steps."""
    out = os.path.join(tmp, f"{config}-{device}-{batch}")
    cmd = [sys.executable, "-m", "pyrodyn", "fit", config, "--set", f"data.path={data}"]
    cmd += ["--set", f"fit.steps={steps}", "--set", "fit.select=null", "--set", "fit.max_time=null"]
    cmd += ["--set", "fit.schedule_clock=steps", "--set", f"fit.batch_size={batch}"]
    cmd += ["--set", "fit.valid_every=100000", "--device", device, "--out", out]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rc, log = _run(cmd, timeout=240, env=env)
    if rc != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({rc}):\n{log[-2000:]}")
    rows = np.genfromtxt(os.path.join(out, "history.csv"), delimiter=",", names=True)
    t = np.asarray(rows["time"], dtype=float)
    return float(statistics.median(np.diff(t[len(t) // 5 :])))


def _write(table: str, command: str, device: str) -> None:
    path = "BENCHMARKS.md"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    stamp = datetime.date.today().isoformat()
    body = (
        f"{SECTION}\n\nDevice: {device}; CPU side: one thread, {platform.machine()}. "
        f"Date {stamp}. Command: `{command}`.\n\n{table}\n"
    )
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + ("" if end < 0 else text[end + 1 :])
    else:
        text = text.rstrip("\n") + "\n\n" + body
    with open(path, "w") as f:
        f.write(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=60, help="steps per throughput fit")
    p.add_argument("--test-timeout", type=float, default=300.0)
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("bench_gpu: no GPU available (torch.cuda.is_available() is False); nothing measured")
        return
    device = torch.cuda.get_device_name(0)
    t0 = time.perf_counter()
    if not args.skip_tests:
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "--device", "cuda"]
        rc, log = _run(cmd, timeout=args.test_timeout)
        tail = log.strip().splitlines()[-1] if log.strip() else ""
        print(f"tests on cuda: rc {rc} ({'time limit' if rc == 124 else tail})", flush=True)
    lines = ["| config | batch | CPU s/step | CUDA s/step | speed-up |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for config, name, shipped, large in MODELS:
            data = os.path.join(tmp, f"{name}.npz")
            subprocess.run(
                [sys.executable, "-m", "pyrodyn", "data", name, "--out", data], check=True
            )
            for batch in [shipped, *large]:
                gpu = _seconds_per_step(config, data, batch, "cuda", args.steps, tmp)
                # the CPU side at the largest batch would take minutes: measured up to 256
                cpu = (
                    _seconds_per_step(config, data, batch, "cpu", args.steps, tmp)
                    if batch <= 256
                    else float("nan")
                )
                row = f"| {config} | {batch} | {cpu:.4f} | {gpu:.4f} | {cpu / gpu:.1f}x |"
                lines.append(row)
                print(row, flush=True)
    table = "\n".join(lines)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.write:
        _write(table, shlex.join([os.path.basename(sys.executable), *sys.argv]), device)


if __name__ == "__main__":
    main()

"""pyrodyn benchmark suite: Pyro overhead, MTF rollout, GP priors, peak memory, DDP scaling.

Writes (or replaces) the section ``## Benchmark suite (scripts/bench.py)`` of BENCHMARKS.md with
the machine, the exact command and the median of repeated measurements, and a JSON file with
every raw figure. Run it on a quiet machine::

    /work/tools/cpu exclusive .venv/bin/python scripts/bench.py --write BENCHMARKS.md

Parts (``--only`` picks some):

* ``overhead``: one SVI step (zero_grad, ``model.loss``, backward, Adam step) of every composed
  model in the tree, in a fresh process each (so its peak memory is its own), at the shipped
  configs' batch sizes, against the same loss written in plain torch (scripts/bench_twins.py:
  every model's loss goes through its Pyro model/guide traces; the twin's loss is checked equal
  to ``model.loss`` at the same seed first). Medians of 200 interleaved steps (``--repeats``),
  with Pyro's validation on and off. A cProfile of the steps gives the share of time spent
  inside Pyro's own Python code.
* ``forcing``: MTF sparse teacher forcing, window-parallel fast path vs sequential rollout.
* ``gp``: Fourier vs dense GP prior across T (``prior_costs`` of scripts/bench_gp_prior.py).
* ``ddp``: SVAE fit on 1 vs 2 CPU processes (gloo), same per-rank batch.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import itertools
import json
import os
import platform
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = "## Benchmark suite (scripts/bench.py)"
MODELS = ("SVAE", "SVAE-large", "MTF", "MMGPVAE", "MultimodalVAE", "LaDID")
B, T = 16, 100  # sequences per step and steps per window of the sequence models
OVERHEAD_REPEATS = 200  # SVI steps per median of the overhead part (issue 17 item 6)
OVERHEAD_TARGET = 1.15  # Pyro step / plain-torch step the overhead part is held to


# ---------------------------------------------------------------------------- helpers
def sync() -> None:
    """Waits for queued GPU work, so that wall time measures it."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_times(
    f: Callable[[], Any], g: Callable[[], Any], repeats: int, warmup: int = 2
) -> tuple[float, float]:
    """Medians of ``f()`` and ``g()`` timed alternately (f, g, f, g, ...)."""
    for _ in range(warmup):
        f()
        g()
    tf, tg = [], []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        f()
        sync()
        t1 = time.perf_counter()
        g()
        sync()
        tg.append(time.perf_counter() - t1)
        tf.append(t1 - t0)
    return statistics.median(tf), statistics.median(tg)


def maxrss_mib() -> float:
    """Peak resident memory of this process so far (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sequence_batch(b: int = B, t: int = T, seed: int = 0):
    """Gaussian (3) + Poisson (3) observations of a noisy oscillator, ``(b, t, .)``."""
    from pyrodyn.data.batch import MultimodalBatch

    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(b, 1, generator=g) * 6.28
    s = torch.arange(t).float()[None] * 0.2 + phase
    state = torch.stack([s.sin(), s.cos(), (0.5 * s).sin()], -1)
    gauss = state + 0.1 * torch.randn(b, t, 3, generator=g)
    counts = torch.poisson(torch.exp(0.5 * state), generator=g)
    return MultimodalBatch.from_tensors({"gaussian": gauss, "poisson": counts})


def build(name: str):
    """A small instance of composed model ``name`` and a batch for it."""
    from pyrodyn.likelihoods import Gaussian, Poisson

    liks = {"gaussian": Gaussian(3), "poisson": Poisson(3)}
    if name in ("SVAE", "SVAE-large"):
        from pyrodyn.models.svae import SVAE

        if name == "SVAE-large":  # 16x the elements per step: Pyro's cost per step is fixed
            return SVAE(liks, latent_dim=8), sequence_batch(b=64, t=400)
        return SVAE(liks, latent_dim=8), sequence_batch()
    if name == "MTF":  # as configs/mtf_lorenz63.yaml, on 6 channels instead of 14
        from pyrodyn.dynamics.plrnn import ClippedShallowPLRNN
        from pyrodyn.models.mtf import MTF
        from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder

        model = MTF(
            liks,
            ClippedShallowPLRNN(10, hidden_dim=100),
            tau=10,
            encoder=TemporalConvEncoder(6, 10, use_mask=False),
            sample_latent=False,
        )
        return model, sequence_batch(b=32, t=200)
    if name == "MMGPVAE":
        from pyrodyn.models.mmgpvae import MMGPVAE

        model = MMGPVAE(liks, encoder_hidden=(32,), lengthscale=10.0)
        return model, sequence_batch(b=20)
    if name == "MultimodalVAE":
        from pyrodyn.data.batch import MultimodalBatch
        from pyrodyn.models.mmvm import MultimodalVAE
        from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
        from pyrodyn.nn.fusion import MMVM

        encs = {m: StaticMLPEncoder(3, 8, (64,)) for m in liks}
        model = MultimodalVAE(liks, encs, MMVM(), decoder_hidden=(64,), static=True)
        seq = sequence_batch(b=128, t=1)
        batch = MultimodalBatch.from_tensors({m: seq.obs[m][:, 0] for m in liks}, static=True)
        return model, batch
    if name == "LaDID":
        from pyrodyn.dynamics.query import QueryDynamics
        from pyrodyn.models.ladid import LaDID
        from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer

        encs = {m: ContinuousTimeTransformer(3, 8, model_dim=32, num_layers=2) for m in liks}
        dyn = QueryDynamics(8, 8, max_period=100.0, hidden=(32,), dropout=0.0)
        seq = sequence_batch(t=50)
        return LaDID(liks, encs, dyn, context=10), seq
    raise ValueError(f"unknown model {name!r}; known: {MODELS}")


# ---------------------------------------------------------------------------- plain-torch twins
def load_script(name: str):
    """A sibling script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pyro_share(step: Callable[[], Any], n: int) -> tuple[float, list[list[Any]]]:
    """Share of time in Pyro's own Python functions (cProfile self-time) and the top ones.

    Returns:
        ``(share, [[function, ms per step under the profiler], ...])`` (top 6).
    """
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        step()
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = sum(v[2] for v in stats.values())
    pyro_dir = os.sep + "pyro" + os.sep
    mine = sorted(((v[2], k) for k, v in stats.items() if pyro_dir in k[0]), reverse=True)
    top = [[f"{k[0].split(pyro_dir, 1)[1]}:{k[2]}", round(1e3 * t / n, 2)] for t, k in mine[:6]]
    return sum(t for t, _ in mine) / max(total, 1e-12), top


def overhead_worker(name: str, repeats: int, device: str = "cpu", scale: int = 1) -> dict[str, Any]:
    """One model: SVI step time, plain-torch twin time, Pyro share, peak memory (this process)."""
    import pyro

    import pyrodyn  # noqa: F401

    torch.set_num_threads(1)
    pyro.enable_validation(True)  # the default, and what the test suite runs with
    pyro.set_rng_seed(0)
    rss0 = maxrss_mib()
    model, batch = build(name)
    if scale > 1:  # a larger batch: the rows repeated
        batch = batch[torch.arange(scale * batch.num_sequences) % batch.num_sequences]
    model.to(device)
    batch = batch.to(device)
    model.train()
    with torch.no_grad():
        model.loss(batch)  # materialise lazily created parameters
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        total, _ = model.loss(batch)
        total.backward()
        opt.step()

    out: dict[str, Any] = {"model": name, "batch": list(batch.obs["gaussian"].shape)}
    out["repeats"] = repeats
    twin = load_script("bench_twins").TWINS.get(name)
    if twin is None:
        out["pyro_step_s"] = median_time(step, repeats)
    else:
        with torch.no_grad():
            pyro.set_rng_seed(1)
            ref = float(model.loss(batch)[0])
            pyro.set_rng_seed(1)
            got = float(twin(model, batch))
        out["twin_matches"] = abs(ref - got) <= 1e-4 * max(1.0, abs(ref))
        out["twin_loss"], out["model_loss"] = got, ref

        def twin_step() -> None:
            opt.zero_grad(set_to_none=True)
            twin(model, batch).backward()
            opt.step()

        # interleaved, so that load on the machine hits both sides alike
        pyro_t, torch_t = paired_times(step, twin_step, repeats)
        out["pyro_step_s"], out["torch_step_s"] = pyro_t, torch_t
        out["ratio"] = pyro_t / torch_t
        # Pyro's validation (support checks, warn_if_inf; torch's argument checks too) off
        pyro.enable_validation(False)
        pyro_t, torch_t = paired_times(step, twin_step, repeats)
        pyro.enable_validation(True)
        out["pyro_step_novalid_s"], out["torch_step_novalid_s"] = pyro_t, torch_t
        out["ratio_novalid"] = pyro_t / torch_t
    out["pyro_share"], out["pyro_top"] = pyro_share(step, max(5, repeats // 2))
    out["peak_rss_mib"] = maxrss_mib()
    out["peak_rss_over_imports_mib"] = maxrss_mib() - rss0
    return out


def bench_overhead(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for name in MODELS:
        reps = OVERHEAD_REPEATS if args.repeats is None else args.repeats
        cmd = [sys.executable, __file__, "--worker", name, "--repeats", str(reps)]
        cmd += ["--device", args.device, "--scale", str(args.scale)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
            rows.append({"model": name, "error": tail[0]})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------------------- MTF rollout
def bench_forcing(args: argparse.Namespace) -> list[dict[str, Any]]:
    from pyrodyn.dynamics.forcing import sparse_forcing_rollout
    from pyrodyn.dynamics.plrnn import ClippedDendPLRNN

    rows = []
    for t, tau in ((200, 10), (1000, 10), (1000, 50)):
        dyn = ClippedDendPLRNN(16, num_bases=8)
        teacher = torch.randn(B, t, 16, requires_grad=True)
        row: dict[str, Any] = {"B": B, "T": t, "tau": tau, "M": 16}
        fns = {}
        for parallel in (True, False):

            def run(dyn=dyn, teacher=teacher, tau=tau, parallel=parallel) -> None:
                out = sparse_forcing_rollout(dyn, teacher, tau, parallel=parallel)
                out.square().mean().backward()

            fns[parallel] = run
        # the sequential rollout takes seconds at T = 1000
        reps = 5 if args.repeats is None else max(5, args.repeats // 3)
        row["parallel_s"], row["sequential_s"] = paired_times(fns[True], fns[False], reps)
        row["repeats"] = reps
        with torch.no_grad():
            a = sparse_forcing_rollout(dyn, teacher, tau, parallel=True)
            b = sparse_forcing_rollout(dyn, teacher, tau, parallel=False)
        row["max_abs_diff"] = float((a - b).abs().max())
        row["speedup"] = row["sequential_s"] / row["parallel_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


# ---------------------------------------------------------------------------- GP priors
def bench_gp(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Reuses helper code of scripts/bench_gp_prior.py (one implementation of the comparison)."""
    reps = 10 if args.repeats is None else min(args.repeats, 10)
    return load_script("bench_gp_prior").prior_costs([100, 300, 1000], 1, 8, reps, 1000)


# ---------------------------------------------------------------------------- DDP
def bench_ddp(args: argparse.Namespace) -> list[dict[str, Any]]:
    import pyro

    from pyrodyn.data.dataset import MultimodalDataset
    from pyrodyn.infer import fit

    seq = sequence_batch(b=64, t=400, seed=3)
    data = MultimodalDataset({m: seq.obs[m].numpy() for m in seq.obs})
    rows = []
    # same batch per rank (throughput), and the same global batch split over 2 ranks
    for devices, per_rank in ((1, B), (2, B), (2, B // 2)):
        pyro.set_rng_seed(0)
        model, _ = build("SVAE")
        t0 = time.perf_counter()
        res = fit(model, data, steps=args.ddp_steps, batch_size=per_rank, window=T, devices=devices)
        wall = time.perf_counter() - t0
        times = [h["time"] for h in res.history]
        per_step = statistics.median([b - a for a, b in itertools.pairwise(times[4:])])
        rows.append(
            {
                "devices": devices,
                "steps": res.steps_done,
                "batch_per_rank": per_rank,
                "median_step_s": per_step,
                "sequences_per_s": devices * per_rank / per_step,
                "wall_s": wall,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------------------- report
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import pyro

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()}-core {platform.machine()} CPU ({cpu}), {gpu}, Python "
        f"{platform.python_version()}, torch {torch.__version__}, pyro-ppl {pyro.__version__}, "
        "1 torch thread per process"
    )


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{1e3 * x:.2f}"


def report(res: dict[str, Any], command: str) -> str:
    lines = [
        SECTION,
        "",
        f"Date {res['date']}. Machine: {res['machine']}. Command: `{command}`. Figures are",
        f"medians of repeated measurements after 2 warm-up calls (repeats per part below); raw "
        f"numbers in `{res['json']}`.",
        "",
    ]
    if "overhead" in res:
        lines += [
            "### SVI step time: Pyro vs the same loss in plain torch, and peak memory",
            "",
            f"Device {res['device']}, batch x{res['scale']}. One step = zero_grad + loss + "
            "backward + Adam step, one process per model; Pyro and plain-torch steps timed "
            f"alternately, medians of {res['overhead'][0].get('repeats', '?')} steps each. The "
            "plain-torch twin (scripts/bench_twins.py) computes the same loss without Pyro, "
            "with the same random draws; its loss is checked equal to `model.loss` at the same "
            "seed first. Batches (B windows x T steps, or B samples) at the shipped configs' "
            "batch sizes, Gaussian (3) + Poisson (3) channels: MTF built as "
            "configs/mtf_lorenz63.yaml (clipped shallow PLRNN M=10, L=100, tau=10, "
            "temporal-conv encoder, encoder means as teacher, windows of 200 steps); the other "
            "models keep their small sizes. Pyro share = cProfile self-time in `pyro/` code. "
            "Peak RSS is the process's high-water mark (after imports in brackets).",
            "",
            "| model | batch | Pyro step (ms) | plain torch (ms) | ratio | ratio, validation "
            "off | Pyro share | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in res["overhead"]:
            if "error" in r:
                lines.append(f"| {r['model']} | | error: {r['error']} | | | | | |")
                continue
            shape = " x ".join(str(n) for n in r["batch"][:-1])
            ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "no twin"
            if "twin_matches" in r and not r["twin_matches"]:
                ratio += " (twin loss differs!)"
            novalid = f"{r['ratio_novalid']:.2f}x" if "ratio_novalid" in r else ""
            lines.append(
                f"| {r['model']} | {shape} | {_ms(r['pyro_step_s'])} | "
                f"{_ms(r.get('torch_step_s'))} | {ratio} | {novalid} | "
                f"{100 * r['pyro_share']:.0f}% | {r['peak_rss_mib']:.0f} "
                f"(+{r['peak_rss_over_imports_mib']:.0f}) |"
            )
        lines.append("")
        slow = [r for r in res["overhead"] if r.get("ratio", 0.0) > OVERHEAD_TARGET]
        if slow:
            tops = "; ".join(
                f"{r['model']}: " + ", ".join(f"`{f}` {ms:.2f}" for f, ms in r["pyro_top"])
                for r in slow
            )
            lines += [
                f"Where the gap comes from in the models above {OVERHEAD_TARGET}x (cProfile "
                f"self-time of Pyro's functions, ms per step, profiler inflated): {tops}. The "
                "ELBO traces the guide, replays the model under a second trace and scores both "
                "traces (log-densities of latent sites included, even where a closed-form KL "
                "replaces them); each sample site goes through the plate, broadcast, scale and "
                "trace messengers, which expand its distribution to the plate's shape; "
                "validation adds the model/guide match and site-shape checks, argument and "
                "support checks and `warn_if_nan`/`warn_if_inf` on every log-density. That cost "
                "is per site and per step, not per element, so the ratio falls as a step does "
                "more work (SVAE-large vs SVAE) and with validation off "
                "(`pyro.enable_validation(False)`).",
                "",
            ]
    if "forcing" in res:
        lines += [
            "### MTF sparse teacher forcing: window-parallel vs sequential rollout",
            "",
            "ClippedDendPLRNN (M=16, 8 bases), all units forced, forward + backward of a "
            f"squared-mean loss; medians of {res['forcing'][0]['repeats']} interleaved repeats.",
            "",
            "| B | T | tau | parallel (ms) | sequential (ms) | speedup | max abs diff |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in res["forcing"]:
            lines.append(
                f"| {r['B']} | {r['T']} | {r['tau']} | {_ms(r['parallel_s'])} | "
                f"{_ms(r['sequential_s'])} | {r['speedup']:.1f}x | {r['max_abs_diff']:.1e} |"
            )
        lines.append("")
    if "gp" in res:
        lines += [
            "### Fourier vs dense GP prior across T",
            "",
            "`prior_costs` of scripts/bench_gp_prior.py (D=8 RBF latents, 1 trial; KL + one "
            "reparameterised sample mapped to time; dense = float64 Cholesky), forward + "
            "backward; medians of up to 10 repeats (1 for dense at T = 1000).",
            "",
            "| T | Fourier coefficients | Fourier (ms) | dense (ms) | dense / Fourier |",
            "|---|---|---|---|---|",
        ]
        for r in res["gp"]:
            dense = r.get("dense_fwdbwd_s")
            sp = f"{r['speedup_fwdbwd']:.1f}x" if "speedup_fwdbwd" in r else "not run"
            lines.append(
                f"| {r['T']} | {r['F']} | {_ms(r['fourier_fwdbwd_s'])} | {_ms(dense)} | {sp} |"
            )
        lines.append("")
    if "ddp" in res:
        lines += [
            "### Data-parallel fitting (Lightning Fabric, gloo) on this 2-core machine",
            "",
            f"SVAE (D=8) on windows of {T} steps, `fit(..., devices=N, batch_size=b)` (b per "
            "rank); step time from the history (steady state, includes the per-step gradient "
            "all-reduce and loss gather), wall time includes starting the ranks.",
            "",
            "| processes | windows per rank | median step (ms) | windows / s | wall (s) for "
            f"{res['ddp'][0]['steps']} steps |",
            "|---|---|---|---|---|",
        ]
        for r in res["ddp"]:
            lines.append(
                f"| {r['devices']} | {r['batch_per_rank']} | {_ms(r['median_step_s'])} | "
                f"{r['sequences_per_s']:.0f} | {r['wall_s']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_section(path: str, text: str) -> None:
    """Replaces this suite's section of ``path`` (or appends it)."""
    old = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + ("\n" + old[nxt + 1 :] if nxt >= 0 else "\n")
    with open(path, "w") as f:
        f.write(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=["overhead", "forcing", "gp", "ddp"])
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=f"timed repeats per measurement (default: {OVERHEAD_REPEATS} SVI steps per model for "
        "overhead, 5 for forcing, 10 for gp)",
    )
    parser.add_argument("--device", default="cpu", help="device of the overhead part (cuda)")
    parser.add_argument("--scale", type=int, default=1, help="batch multiplier (overhead part)")
    parser.add_argument("--ddp-steps", type=int, default=40)
    parser.add_argument("--write", help="BENCHMARKS.md to update")
    parser.add_argument("--json", default=os.path.join(tempfile.gettempdir(), "pyrodyn-bench.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.worker:
        reps = OVERHEAD_REPEATS if args.repeats is None else args.repeats
        print(json.dumps(overhead_worker(args.worker, reps, args.device, args.scale)))
        return 0
    import pyrodyn  # noqa: F401

    parts = args.only or ["overhead", "forcing", "gp", "ddp"]
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "repeats": args.repeats,  # None: each part's default
        "json": args.json,
        "device": args.device,
        "scale": args.scale,
    }
    runners = {"overhead": bench_overhead, "forcing": bench_forcing, "gp": bench_gp}
    runners["ddp"] = bench_ddp
    for part in parts:
        t0 = time.perf_counter()
        res[part] = runners[part](args)
        res[f"{part}_seconds"] = time.perf_counter() - t0
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    command = "/work/tools/cpu exclusive .venv/bin/python scripts/bench.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    text = report(res, command.strip())
    print(text)
    if args.write:
        write_section(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

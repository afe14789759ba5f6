"""MTF reconstruction benchmark: fit with a time budget, free-run, score against a held-out tail.

Protocol (issue 3, specs/mtf.md 2.1-2.2 and 4):

1. ``pyrodyn fit CONFIG --set data.path=DATA --set fit.max_time=BUDGET --seed S --out RUN``
   (the exact command line is printed and recorded). The config holds out the tail of the
   recording (``data.valid_fraction``); training never sees it.
2. Generate ``steps + burn_in`` steps (default 100000 + 1000) from the encoder state of the
   first training window, drop the burn-in, decode the Gaussian channels (decoder mean).
3. Score against the noise-free tail of TRUTH (the steps after the training split):
   D_stsp (10 bins, +-2 sd legacy), D_H (GTF style, sigma 20) and the fraction of generated points
   outside the +-2 sd box. The floor (the noise-free training part scored against the same tail)
   is reported too.

Usage::

    /work/tools/cpu exclusive .venv/bin/python scripts/bench_mtf.py \
        --config configs/mtf_lorenz63.yaml \
        --data /work/shared/data/mtf-lorenz63/train_noisy.npz \
        --truth /work/shared/data/mtf-lorenz63/train.npz --seeds 0 1 2 --max-time 600 \
        --out runs/bench-mtf --label "MTF Lorenz-63 (G+O+P)"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np
import torch


def _fit_command(args: argparse.Namespace, seed: int, run_dir: str) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "pyrodyn",
        "fit",
        args.config,
        "--set",
        f"data.path={args.data}",
        "--set",
        f"fit.max_time={args.max_time}",
        "--seed",
        str(seed),
        "--out",
        run_dir,
    ]
    for extra in args.set or []:
        cmd += ["--set", extra]
    return cmd


def _fit_all(args: argparse.Namespace) -> dict[int, tuple[list[str], float]]:
    """Runs the fits, ``args.jobs`` at a time (each with one torch thread); seed -> (cmd, wall)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out: dict[int, tuple[list[str], float]] = {}
    seeds = list(args.seeds)
    for i in range(0, len(seeds), args.jobs):
        procs = []
        for seed in seeds[i : i + args.jobs]:
            cmd = _fit_command(args, seed, os.path.join(args.out, f"seed{seed}"))
            procs.append((seed, cmd, time.perf_counter(), subprocess.Popen(cmd, env=env)))
        for seed, cmd, t0, proc in procs:
            if proc.wait() != 0:
                raise RuntimeError(f"fit of seed {seed} failed: {shlex.join(cmd)}")
            out[seed] = (cmd, time.perf_counter() - t0)
    return out


def _evaluate(args: argparse.Namespace, run_dir: str) -> dict[str, float]:
    from pyrodyn.app.generation import init_batch
    from pyrodyn.app.rundir import load_run
    from pyrodyn.data.dataset import MultimodalDataset
    from pyrodyn.metrics.power_spectrum import d_h
    from pyrodyn.metrics.state_space import d_stsp, out_of_range_fraction

    run = load_run(run_dir)
    model, cfg, std = run.model, run.config, run.standardizer
    cut = int(cfg["run"]["train_steps"])
    with np.load(args.truth) as f:
        truth = np.asarray(f[args.truth_key or args.modality], dtype=np.float64)
    x_true, x_train = truth[cut:], truth[:cut]
    with np.load(args.data) as f:
        train = MultimodalDataset({m: f[m][:cut] for m in model.modalities})
    # D_stsp: 10 bins over +-2 sd for up to 5 dimensions, the GMM estimator above (spec 2.1)
    if std is not None and std.mean:
        train = train.standardize(standardizer=std)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    gen = model.generate(
        args.steps, init=init_batch(train, 1, cfg["data"]["window"]), burn_in=args.burn_in
    )
    gen_s = time.perf_counter() - t0
    history = os.path.join(run_dir, "history.csv")
    steps = sum(1 for _ in open(history)) - 1 if os.path.exists(history) else -1
    selected = steps  # without fit.select the final weights are kept
    sel_path = os.path.join(run_dir, "selection.csv")
    if os.path.exists(sel_path):
        rows = np.genfromtxt(sel_path, delimiter=",", names=True, ndmin=1)
        finite = np.isfinite(rows["score"])
        if finite.any():
            selected = int(rows["step"][finite][np.argmin(rows["score"][finite])])
    if args.latent:
        from pyrodyn.metrics.latent import latent_d_stsp
        from pyrodyn.metrics.latent_affine import affine_latent_d_stsp

        k = model.forcing_dim  # the generated latent's first K units, the encoder's too
        fit_latent = model.encode(train.batch())["latent"][0, :, :k].double().numpy()
        z_gen = gen["latent"][0, :, :k].double().numpy()
        pair = {"x_true_state": x_true, "fit_latent": fit_latent, "fit_state": x_train}
        if getattr(args, "align", "procrustes") == "affine":
            gen_ok = np.isfinite(z_gen).all()  # a diverged run scores NaN
            score = affine_latent_d_stsp(z_gen, **pair) if gen_ok else float("nan")
        else:
            score = latent_d_stsp(z_gen, **pair, standardize_latent=False)
        return {
            "d_stsp": score,
            "d_h": float("nan"),
            "out_of_range": float("nan"),
            "floor_d_stsp": d_stsp(x_true, x_train, n_bins=10, bin_range="legacy"),
            "floor_d_h": float("nan"),
            "true_steps": int(x_true.shape[0]),
            "train_steps": cut,
            "fit_steps": steps,
            "selected_step": selected,
            "generate_s": gen_s,
        }
    x_gen = gen[args.modality][0].double().numpy()
    if std is not None and args.modality in std.mean:
        x_gen = std.inverse(args.modality, x_gen)
    opts = {"n_bins": 10, "bin_range": "legacy"} if x_true.shape[1] <= 5 else {"method": "gmm"}
    return {
        "d_stsp": d_stsp(x_true, x_gen, **opts),
        "d_h": d_h(x_true, x_gen, sigma=20.0),
        "out_of_range": out_of_range_fraction(x_true, x_gen),
        "floor_d_stsp": d_stsp(x_true, x_train, **opts),
        "floor_d_h": d_h(x_true, x_train, sigma=20.0),
        "true_steps": int(x_true.shape[0]),
        "train_steps": cut,
        "fit_steps": steps,
        "selected_step": selected,
        "generate_s": gen_s,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", default="configs/mtf_lorenz63.yaml")
    p.add_argument("--data", default="/work/shared/data/mtf-lorenz63/train_noisy.npz")
    p.add_argument("--truth", default="/work/shared/data/mtf-lorenz63/train.npz")
    p.add_argument("--modality", default="gaussian", help="generated modality that is scored")
    p.add_argument(
        "--truth-key", help="array of TRUTH scored against (default: --modality; e.g. true_state)"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-time", type=float, default=600.0)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--burn-in", type=int, default=1000)
    p.add_argument("--set", action="append", help="extra --set overrides for pyrodyn fit")
    p.add_argument("--out", default="runs/bench-mtf")
    p.add_argument("--label", default="MTF Lorenz-63")
    p.add_argument(
        "--latent",
        action="store_true",
        help="score the generated latent against TRUTH[--truth-key or --modality] after an "
        "alignment fitted on the encoder latents of the training part (see --align)",
    )
    p.add_argument(
        "--align",
        choices=("procrustes", "affine"),
        default="procrustes",
        help="--latent: Procrustes after PCA whitening (latent_d_stsp) or a least-squares affine "
        "map (affine_latent_d_stsp)",
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="fits run concurrently (one torch thread each)"
    )
    p.add_argument("--eval-only", action="store_true", help="score existing runs in --out")
    args = p.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    fits = {} if args.eval_only else _fit_all(args)
    for seed in args.seeds:
        run_dir = os.path.join(args.out, f"seed{seed}")
        cmd, wall = fits.get(seed, ([], float("nan")))
        res = _evaluate(args, run_dir)
        res.update(seed=seed, fit_wall_s=wall, command=shlex.join(cmd))
        rows.append(res)
        print(json.dumps(res), flush=True)
    summary = {
        "label": args.label,
        "median_d_stsp": statistics.median(r["d_stsp"] for r in rows),
        "median_d_h": statistics.median(r["d_h"] for r in rows),
        "seeds": rows,
    }
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("| seed | fit steps | kept step | fit wall s | D_stsp | D_H | out of box |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['seed']} | {r['fit_steps']} | {r['selected_step']} | {r['fit_wall_s']:.0f} | "
            f"{r['d_stsp']:.3f} | "
            f"{r['d_h']:.3f} | {r['out_of_range']:.4f} |"
        )
    print(
        f"median D_stsp {summary['median_d_stsp']:.3f}, median D_H {summary['median_d_h']:.3f}; "
        f"floor (noise-free training part vs tail) D_stsp {rows[0]['floor_d_stsp']:.4f}, "
        f"D_H {rows[0]['floor_d_h']:.3f}"
    )


if __name__ == "__main__":
    main()

"""LaDID benchmarks (issue 7; spec ladid 3, 4.2, 8.2): one command per target.

    .venv/bin/python scripts/bench_ladid.py --tasks vector,video,compare --budget 600

Tasks (each trains within ``--budget`` seconds of wall clock, then evaluates):

* ``vector``: pendulum with per-instance g/L ~ U(5, 15) and damping ~ U(0, 0.5), a 16-dim noisy
  linear mix of (sin, cos, velocity); 400 train / 50 test trajectories of 60 steps (dt 0.05;
  ``--dt`` and ``--mixing-seed`` generate another set, e.g. dt 0.1 under another mixing, for a
  generalisation check of a recipe with its flags unchanged).
  Reports the per-step nMSE over a 50-step horizon from a 10-frame context next to constant and
  persistence baselines, a beyond-horizon test (100 steps), off-grid queries (half steps),
  linear-probe R2 from psi to g/L and damping next to the same probe on the raw context, and a
  few-shot transfer curve to g/L = 20 (outside the training range) with the dynamics frozen.
* ``video``: the same pendulums rendered at 32x32 (MSVI recipe); nMSE over 50 steps.
* ``compare``: on the vector task and budget, LaDID with a PLRNN step dynamics behind the same
  ``path`` interface, the MTF model (PLRNN, sparse teacher forcing) and the SVAE, each forecasting
  from the same 10-frame context.

Figures go to stdout (markdown) and ``--out`` (JSON). Run timed figures under
``/work/tools/cpu exclusive`` on the shared machine; ``--quick`` shrinks data and budgets for a
smoke run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

import torch

import pyrodyn
from pyrodyn.data.pendulum import arrays_to_dataset, pendulum_arrays
from pyrodyn.dynamics.query import QueryDynamics
from pyrodyn.infer.fit import fit
from pyrodyn.likelihoods import Gaussian
from pyrodyn.metrics.forecast import (
    code_probe_r2,
    few_shot_transfer,
    forecast_nmse_curve,
    offgrid_nmse_curve,
)
from pyrodyn.models.ladid import LaDID, LaDIDObjective
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer

CONTEXT, HORIZON, DT = 10, 50, 0.05  # DT: the default of --dt
HORIZONS = (1, 2, 4, 8, 16, 32, 50)


class TimeCurriculum:
    """Query-horizon curriculum over wall-clock time (``fit`` runs with a time budget).

    The last horizon gets ``final_fraction`` of the budget; the others share the rest.
    """

    def __init__(self, budget: float, horizons=HORIZONS, final_fraction: float = 0.4) -> None:
        self.budget, self.horizons, self.final = budget, tuple(horizons), final_fraction
        self.start: float | None = None

    def __call__(self, step: int) -> int:
        if self.start is None:
            self.start = time.monotonic()
        frac = (time.monotonic() - self.start) / self.budget
        early = 1.0 - self.final
        if frac >= early:
            return self.horizons[-1]
        i = int(frac / early * (len(self.horizons) - 1))
        return self.horizons[min(i, len(self.horizons) - 2)]


def pendulum_sets(args: argparse.Namespace, modalities: tuple[str, ...]) -> dict[str, Any]:
    """Train/test/long/dense/new-constant splits sharing one observation map."""
    n_train, n_test = (64, 16) if args.quick else (400, 50)
    dt = args.dt
    kw = {"modalities": modalities, "dt": dt, "mixing_seed": args.mixing_seed}
    t = CONTEXT + HORIZON
    return {
        "train": arrays_to_dataset(pendulum_arrays(n_train, t, seed=0, **kw)),
        "test": arrays_to_dataset(pendulum_arrays(n_test, t, seed=1, **kw)),
        "long": arrays_to_dataset(pendulum_arrays(n_test, CONTEXT + 2 * HORIZON, seed=2, **kw)),
        "dense": arrays_to_dataset(pendulum_arrays(n_test, 2 * t, seed=3, **{**kw, "dt": dt / 2})),
        "new_train": arrays_to_dataset(pendulum_arrays(20, t, seed=4, gl_range=(20.0, 20.0), **kw)),
        "new_test": arrays_to_dataset(
            pendulum_arrays(n_test, t, seed=5, gl_range=(20.0, 20.0), **kw)
        ),
    }


def build_ladid(
    shapes: dict[str, Any],
    args: argparse.Namespace,
    dynamics=None,
    learn_scale=True,
    code_dim: int | None = None,
    time_step: float | None = None,
    **recipe,
) -> LaDID:
    """A LaDID of the benchmark's sizes; ``recipe`` options go to its :class:`LaDIDObjective`."""
    k = args.code_dim if code_dim is None else code_dim
    liks = {m: Gaussian(s, scale=0.1, learn_scale=learn_scale) for m, s in shapes.items()}
    k_s = args.split_state
    encs = {
        m: ContinuousTimeTransformer(
            s, k - k_s, model_dim=args.model_dim, num_layers=args.layers, window=args.window
        )
        for m, s in shapes.items()
    }
    kw: dict[str, Any] = {}
    if k_s:
        # the initial-state part of a split code, from the first --state-frames frames
        kw["state_encoders"] = {
            m: ContinuousTimeTransformer(s, k_s, model_dim=32, num_layers=1, window=args.window)
            for m, s in shapes.items()
        }
        kw["state_frames"] = args.state_frames
        recipe["constants_crop"] = args.constants_crop
        recipe["embedding_weight"] = 0.0
    if dynamics is None:
        dynamics = QueryDynamics(
            k,
            k,
            max_period=2 * (CONTEXT + HORIZON) * args.dt,
            hidden=(args.hidden, args.hidden),
            dropout=args.dropout,
            octaves=args.octaves,
            time_scale=args.time_scale,
            rate_features=(k - k_s) if (k_s and args.time_scale) else None,
        )
    model = LaDID(liks, encs, dynamics, context=CONTEXT, time_step=time_step, **kw)
    model.elbo = LaDIDObjective(**recipe)
    return model


def train(model, data, budget: float, args: argparse.Namespace, schedules=None) -> dict:
    t0 = time.monotonic()
    res = fit(
        model,
        data,
        steps=10**7,
        max_time=budget,
        lr=args.lr,
        batch_size=args.batch_size,
        window=CONTEXT + HORIZON,
        schedules=schedules,
        seed=args.seed,
        progress=False,
        # cosine decay over the time budget (the curricula keep their own wall clock)
        lr_schedule=None
        if args.lr_decay is None
        else {"type": "cosine", "min_factor": args.lr_decay},
        schedule_clock="steps" if args.lr_decay is None else "time",
    )
    model.eval()
    last = res.history[-1] if res.history else {}
    return {
        "steps": res.steps_done,
        "seconds": time.monotonic() - t0,
        "last_loss": last.get("loss"),
    }


def ladid_vector(args: argparse.Namespace, out: dict) -> None:
    sets = pendulum_sets(args, ("x",))
    torch.manual_seed(args.seed)
    model = build_ladid({"x": 16}, args, embedding_weight=args.embedding_weight)
    sched = {"horizon": TimeCurriculum(args.budget)}
    if args.beta != 1.0:
        sched["beta"] = lambda step: args.beta
    info = train(model, sets["train"], args.budget, args, sched)
    r = forecast_nmse_curve(model, sets["test"], context=CONTEXT, horizon=HORIZON)
    longr = forecast_nmse_curve(model, sets["long"], context=CONTEXT, horizon=2 * HORIZON)
    off = offgrid_nmse_curve(model, sets["dense"], stride=2, context=CONTEXT, horizon=HORIZON)
    probe = code_probe_r2(model, sets["train"], sets["test"], context=CONTEXT)
    probe.update(log_probes(model, sets["train"], sets["test"]))
    shots = (0, 1, 5, 20)
    few = few_shot_transfer(
        model,
        sets["new_train"],
        sets["new_test"],
        shots=shots,
        steps=args.few_shot_steps,
        horizon=HORIZON,
        context=CONTEXT,
    )
    if args.save:
        torch.save(model.state_dict(), f"{args.save}_vector.pt")
    out["vector"] = {
        "train": info,
        "params": sum(p.numel() for p in model.parameters()),
        "nmse50": r["nmse"],
        "first10": r["first10"],
        "last10": r["last10"],
        "baseline_constant": r["baseline_constant"],
        "baseline_persistence": r["baseline_persistence"],
        "curve": r["curve"].tolist(),
        "beyond_horizon_51_100": float(longr["curve"][HORIZON:].mean()),
        "beyond_horizon_constant_51_100": float(longr["curve_constant"][HORIZON:].mean()),
        "offgrid_nmse": off["nmse"],
        "ongrid_nmse_same_queries": off["on_grid_nmse"],
        "probe_r2": probe,
        "few_shot_gl20": {str(k): v for k, v in few.items()},
        "few_shot_steps": args.few_shot_steps,
    }


def log_probes(model, train, test) -> dict[str, float]:
    """Linear probes psi -> log g/L, and from the instance clock rate log s(psi) alone."""
    from pyrodyn.metrics.forecast import knn_probe_r2, linear_probe_r2

    def codes(ds):
        with torch.no_grad():
            return model.encode(ds.batch(window=CONTEXT))["code"]

    ctr, cte = codes(train), codes(test)
    ytr, yte = train.extras["true_gl"].log().numpy(), test.extras["true_gl"].log().numpy()
    out = {"log.true_gl": linear_probe_r2(ctr.numpy(), ytr, cte.numpy(), yte)}
    if getattr(model, "state_dim", 0):
        # the constants part of a split code alone
        k = model.constants_dim
        for t in ("true_gl", "true_damping"):
            xy = (ctr[:, :k].numpy(), train.extras[t].numpy(), cte[:, :k].numpy())
            out[f"constants.{t}"] = linear_probe_r2(*xy, test.extras[t].numpy())
            out[f"constants.knn.{t}"] = knn_probe_r2(*xy, test.extras[t].numpy())
    dyn = model.dynamics
    if isinstance(dyn, QueryDynamics) and dyn.time_scale is not None:
        with torch.no_grad():
            rtr, rte = dyn.rate(ctr).log().numpy(), dyn.rate(cte).log().numpy()
        out["rate.true_gl"] = linear_probe_r2(
            rtr, train.extras["true_gl"].numpy(), rte, test.extras["true_gl"].numpy()
        )
        out["rate.log.true_gl"] = linear_probe_r2(rtr, ytr, rte, yte)
    return out


def ladid_video(args: argparse.Namespace, out: dict) -> None:
    sets = pendulum_sets(args, ("video",))
    torch.manual_seed(args.seed)
    vargs = argparse.Namespace(**{**vars(args), "split_state": args.video_split_state})
    extra = {}
    if args.video_frames:
        extra = {"frames_per_window": args.video_frames, "embedding_weight": 0.0}
    model = build_ladid(
        {"video": (32, 32)},
        vargs,
        code_dim=args.video_code_dim,
        **{"embedding_weight": args.embedding_weight, **extra},
        windows_per_sequence=args.video_windows,
        learn_scale=not args.video_fixed_scale,
    )
    info = train(model, sets["train"], args.budget, args, {"horizon": TimeCurriculum(args.budget)})
    r = forecast_nmse_curve(model, sets["test"], context=CONTEXT, horizon=HORIZON)
    angle = rod_angle_error(model, sets["test"])
    if args.save:
        torch.save(model.state_dict(), f"{args.save}_video.pt")
    out["video"] = {
        "train": info,
        "params": sum(p.numel() for p in model.parameters()),
        "nmse50": r["nmse"],
        "first10": r["first10"],
        "last10": r["last10"],
        "baseline_constant": r["baseline_constant"],
        "baseline_persistence": r["baseline_persistence"],
        "blank": 1.0,
        "curve": r["curve"].tolist(),
        "angle_error": angle,
    }


def _rod_angle(frames: torch.Tensor) -> torch.Tensor:
    """Angle of the rod in frames ``(..., H, W)``: intensity-weighted direction from the pivot."""
    n = frames.shape[-1]
    c = (n - 1) / 2.0
    grid = torch.arange(n, dtype=frames.dtype) - c
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    w = frames.clamp_min(0.0)
    return torch.atan2((w * xx).sum((-1, -2)), (w * yy).sum((-1, -2)))


def rod_angle_error(model, data) -> dict[str, float]:
    """Mean absolute angle error (rad) of the rod in predicted vs true frames, by segment."""
    batch = data.batch()
    with torch.no_grad():
        pred = model.forecast(batch)["video"]
    d = _rod_angle(pred) - _rod_angle(batch.obs["video"])
    err = (torch.remainder(d + torch.pi, 2 * torch.pi) - torch.pi).abs().mean(0)
    return {
        "context": float(err[:CONTEXT].mean()),
        "first10": float(err[CONTEXT : CONTEXT + 10].mean()),
        "last10": float(err[-10:].mean()),
    }


def _step_forecaster(model, modality: str):
    """Adapter: a step model's ``forecast(batch, H)`` from the last context step."""

    def predict(batch, times):
        ctx = type(batch)(
            obs={k: v[:, :CONTEXT] for k, v in batch.obs.items()},
            mask={k: v[:, :CONTEXT] for k, v in batch.mask.items()},
            times=batch.times[:, :CONTEXT],
            lengths=torch.full((batch.num_sequences,), CONTEXT, dtype=torch.long),
        )
        h = times.shape[1]
        return {modality: model.forecast(ctx, h)[modality][:, CONTEXT - 1]}

    return predict


COMPARED = ("LaDID (ClippedShallowPLRNN path)", "MTF (ClippedShallowPLRNN)", "SVAE")


def _compare_one(name: str, args: argparse.Namespace) -> dict:
    """Train and score one compared model (own process when ``--compare-jobs`` > 1)."""
    torch.set_num_threads(1)
    try:
        sets = pendulum_sets(args, ("x",))
        torch.manual_seed(args.seed)
        if name.startswith("LaDID"):
            from pyrodyn.dynamics.plrnn import ClippedShallowPLRNN

            dyn = ClippedShallowPLRNN(args.code_dim, 64)
            model = build_ladid(
                {"x": 16}, args, dynamics=dyn, time_step=args.dt, embedding_weight=0.0
            )
            info = train(
                model, sets["train"], args.budget, args, {"horizon": TimeCurriculum(args.budget)}
            )
            predictor = model
        else:
            model = _build_mtf() if name.startswith("MTF") else _build_svae()
            info = train(model, sets["train"], args.budget, args)
            model.eval()
            predictor = _step_forecaster(model, "x")
        r = forecast_nmse_curve(predictor, sets["test"], context=CONTEXT, horizon=HORIZON)
        return {"train": info, "nmse50": r["nmse"]}
    except Exception as exc:  # report, never hide
        return {"error": repr(exc)}


def compare(args: argparse.Namespace, out: dict) -> None:
    """LaDID with a PLRNN path, MTF and SVAE on the vector task, each for ``--budget`` s.

    With ``--compare-jobs 2`` two models train at a time, each in its own process on one thread
    (one core each): the same conditions for every compared model, half the wall clock.
    """
    rows = {}
    if "vector" in out:
        rows["LaDID (QueryDynamics)"] = out["vector"]["nmse50"]
    jobs = max(1, int(args.compare_jobs))
    if jobs == 1:
        results = [_compare_one(name, args) for name in COMPARED]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            results = list(pool.map(_compare_one, COMPARED, [args] * len(COMPARED)))
    out["compare_jobs"] = jobs
    for name, res in zip(COMPARED, results, strict=True):
        key = "compare_ladid_plrnn" if name.startswith("LaDID") else f"compare_{name}"
        out[key] = res
        if "error" not in res:
            rows[name] = res["nmse50"]
    out["compare_table"] = rows


def _build_mtf():
    from pyrodyn.dynamics.plrnn import ClippedShallowPLRNN
    from pyrodyn.models.mtf import MTF

    return MTF({"x": Gaussian(16)}, ClippedShallowPLRNN(16, 64), tau=10)


def _build_svae():
    from pyrodyn.dynamics.plrnn import ClippedShallowPLRNN
    from pyrodyn.models.svae import SVAE

    return SVAE({"x": Gaussian(16)}, 8, dynamics=ClippedShallowPLRNN(8, 64), decoder="mlp")


def report(out: dict) -> str:
    lines = []
    v = out.get("vector")
    if v:
        lines += [
            "| vector pendulum (g/L, damping per instance) | value |",
            "|---|---|",
            f"| training | {v['train']['steps']} steps in {v['train']['seconds']:.0f} s, "
            f"{v['params']} params |",
            f"| nMSE over 50 steps (first 10 / last 10) | {v['nmse50']:.3f} "
            f"({v['first10']:.3f} / {v['last10']:.3f}) |",
            f"| constant / persistence baseline | {v['baseline_constant']:.3f} / "
            f"{v['baseline_persistence']:.3f} |",
            f"| beyond horizon, steps 51-100 (constant) | {v['beyond_horizon_51_100']:.3f} "
            f"({v['beyond_horizon_constant_51_100']:.3f}) |",
            f"| off-grid half-step queries (on-grid same horizon) | {v['offgrid_nmse']:.3f} "
            f"({v['ongrid_nmse_same_queries']:.3f}) |",
            "| linear probe R2 psi -> g/L, damping (raw context; k-NN on psi) | "
            f"{v['probe_r2']['true_gl']:.3f}, {v['probe_r2']['true_damping']:.3f} "
            f"({v['probe_r2']['raw.true_gl']:.3f}, {v['probe_r2']['raw.true_damping']:.3f}; "
            f"{v['probe_r2']['knn.true_gl']:.3f}, {v['probe_r2']['knn.true_damping']:.3f}) |",
            "| linear probe R2 psi -> log g/L (log clock rate -> g/L, log g/L) | "
            f"{v['probe_r2']['log.true_gl']:.3f} "
            f"({v['probe_r2'].get('rate.true_gl', float('nan')):.3f}, "
            f"{v['probe_r2'].get('rate.log.true_gl', float('nan')):.3f}) |",
            *(
                [
                    "| split code: linear probe R2 constants part -> g/L, damping | "
                    f"{v['probe_r2']['constants.true_gl']:.3f}, "
                    f"{v['probe_r2']['constants.true_damping']:.3f} (k-NN "
                    f"{v['probe_r2'].get('constants.knn.true_gl', float('nan')):.3f}, "
                    f"{v['probe_r2'].get('constants.knn.true_damping', float('nan')):.3f}) |"
                ]
                if "constants.true_gl" in v["probe_r2"]
                else []
            ),
            "| few-shot g/L = 20, dynamics frozen: nMSE by #trajectories | "
            + ", ".join(f"{k}: {x:.3f}" for k, x in v["few_shot_gl20"].items())
            + " |",
        ]
    w = out.get("video")
    if w:
        lines += [
            "",
            "| pendulum video 32x32 | value |",
            "|---|---|",
            f"| training | {w['train']['steps']} steps in {w['train']['seconds']:.0f} s, "
            f"{w['params']} params |",
            f"| nMSE over 50 steps (first 10 / last 10) | {w['nmse50']:.3f} "
            f"({w['first10']:.3f} / {w['last10']:.3f}) |",
            f"| constant / persistence / blank | {w['baseline_constant']:.3f} / "
            f"{w['baseline_persistence']:.3f} / 1.000 |",
            "| rod angle error, rad (context / first 10 / last 10 query steps) | "
            f"{w['angle_error']['context']:.3f} / {w['angle_error']['first10']:.3f} / "
            f"{w['angle_error']['last10']:.3f} |",
        ]
    if "compare_table" in out:
        lines += ["", "| model (same vector task and budget) | nMSE over 50 steps |", "|---|---|"]
        lines += [f"| {k} | {x:.3f} |" for k, x in out["compare_table"].items()]
        for k, x in out.items():
            if k.startswith("compare_") and isinstance(x, dict) and "error" in x:
                lines.append(f"| {k[8:]} | failed: {x['error'][:120]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="vector,video,compare")
    p.add_argument("--budget", type=float, default=600.0, help="training seconds per model")
    p.add_argument("--quick", action="store_true", help="small data (smoke run)")
    p.add_argument("--code-dim", type=int, default=8)
    p.add_argument("--model-dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--window", type=float, default=0.45)
    p.add_argument(
        "--octaves",
        type=float,
        default=5.0,
        help="period range of the time encoding (LaDID: 8, whose fastest periods fall below the "
        "sampling grid's Nyquist limit and spoil off-grid queries)",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="instance clock: F(psi, phi(s(psi) dt)) with s in (1/r, r) linear-in-psi log-rate "
        "(QueryDynamics time_scale; default off, the reference)",
    )
    p.add_argument("--embedding-weight", type=float, default=1.0)
    p.add_argument(
        "--split-state",
        type=int,
        default=0,
        help="K_s > 0 splits the code into constants (K - K_s, from the whole context) and an "
        "initial state (K_s, from the first --state-frames frames); turns reg.embedding off",
    )
    p.add_argument("--state-frames", type=int, default=2)
    p.add_argument(
        "--constants-crop",
        action="store_true",
        help="with --split-state: train the constants encoder on a random context-length "
        "stretch of each window (LaDID constants_crop)",
    )
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--lr-decay",
        type=float,
        help="cosine learning-rate decay to this fraction of --lr over the time budget "
        "(default: constant learning rate, the reference)",
    )
    p.add_argument(
        "--video-fixed-scale",
        action="store_true",
        help="fix the video pixels' observation scale at 0.1 (a learned per-pixel scale lets "
        "the always-dark background dominate the likelihood)",
    )
    p.add_argument("--beta", type=float, default=1.0, help="KL weight of the vector LaDID")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--few-shot-steps", type=int, default=100)
    p.add_argument(
        "--video-windows", type=int, default=1, help="shooting windows per video sequence"
    )
    p.add_argument(
        "--video-frames",
        type=int,
        default=None,
        help="frames decoded and scored per video window (LaDID frames_per_window; unbiased, "
        "default: all); turns the video's reg.embedding off",
    )
    p.add_argument(
        "--video-split-state",
        type=int,
        default=0,
        help="split the video code into constants and a K_s-dim state from --state-frames frames",
    )
    p.add_argument(
        "--video-code-dim", type=int, default=16, help="instance code size of the video task"
    )
    p.add_argument(
        "--compare-jobs",
        type=int,
        default=1,
        help="compared models trained at a time, each in its own single-thread process",
    )
    p.add_argument(
        "--dt",
        type=float,
        default=DT,
        help="sampling interval of every pendulum set (the dense set: half of it); the time "
        "encoding's max_period follows (twice the training span)",
    )
    p.add_argument(
        "--mixing-seed",
        type=int,
        default=0,
        help="seed of the vector task's random observation mixing (shared by all its sets)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON file for the figures")
    p.add_argument("--save", default=None, help="prefix for the trained models' state dicts")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in ("vector", "video", "compare")]
    if unknown:
        p.error(f"unknown tasks {unknown}; choose from vector, video, compare")
    out: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "pyrodyn": pyrodyn.__version__,
        "threads": torch.get_num_threads(),
        "args": vars(args),
    }
    t0 = time.monotonic()
    if "vector" in tasks:
        ladid_vector(args, out)
    if "video" in tasks:
        ladid_video(args, out)
    if "compare" in tasks:
        compare(args, out)
    out["total_seconds"] = time.monotonic() - t0
    print(report(out))
    print(f"\ntotal {out['total_seconds']:.0f} s; args {vars(args)}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                out, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

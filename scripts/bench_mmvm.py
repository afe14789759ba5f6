"""Benchmarks of the fusion family and the MMVM VAE (issue 5; figures go to BENCHMARKS.md).

    python scripts/bench_mmvm.py polydigits   [--seeds 0 1 2] [--steps 1000] [--workers 2]
    python scripts/bench_mmvm.py basicmotions [--seeds 0 1 2] [--steps 1500]
    python scripts/bench_mmvm.py estimators

Each subcommand prints a markdown table and writes JSON (``--out``). Fusions are compared by
held-out metrics only: MMVM's objective is not an ELBO, so training losses are not comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import torch

torch.set_num_threads(1)

import pyrodyn  # noqa: E402, F401
from pyrodyn.infer.fit import fit  # noqa: E402
from pyrodyn.models.mmvm import MultimodalVAE  # noqa: E402
from pyrodyn.nn.fusion import (  # noqa: E402
    MMVM,
    Independent,
    Mean,
    MixtureOfExperts,
    MixtureOfProductsOfExperts,
    ProductOfExperts,
)

FUSIONS = {
    "independent": Independent,
    "mean": Mean,
    "poe": ProductOfExperts,
    "moe": MixtureOfExperts,
    "mopoe": MixtureOfProductsOfExperts,
    "mmvm": MMVM,
}

_DATA: dict = {}


def _summary(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


# ---------------------------------------------------------------------------- PolyDigits
def _polydigits_task(args: tuple) -> dict:
    from pyrodyn.likelihoods.laplace import Laplace
    from pyrodyn.metrics.probes import coherence, probe_accuracies, reconstruction_nll
    from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder

    name, seed, opts = args
    torch.set_num_threads(1)
    train, test, clfs = _DATA["train"], _DATA["test"], _DATA["classifiers"]
    torch.manual_seed(seed)
    shape = train.feature_shape("m0")
    model = MultimodalVAE(
        {m: Laplace(shape, scale=0.75) for m in train.modalities},
        {
            m: StaticMLPEncoder(shape, opts["latent_dim"], (opts["hidden"],))
            for m in train.modalities
        },
        FUSIONS[name](),
        decoder_hidden=(opts["hidden"],),
        beta=opts["beta"],
    )
    t0 = time.perf_counter()
    fit(
        model,
        train,
        steps=opts["steps"],
        lr=opts["lr"],
        batch_size=opts["batch_size"],
        seed=seed,
        progress=False,
    )
    fit_s = time.perf_counter() - t0
    probes = probe_accuracies(model, train, test)
    coh = coherence(model, test, clfs)
    rec = reconstruction_nll(model, test)
    return {
        "fusion": name,
        "seed": seed,
        "fit_s": fit_s,
        "eval_s": time.perf_counter() - t0 - fit_s,
        "probe": probes,
        "coherence": coh,
        "reconstruction": rec,
    }


def bench_polydigits(a: argparse.Namespace) -> dict:
    from pyrodyn.data.polydigits import make_polydigits
    from pyrodyn.metrics.probes import train_classifiers

    t0 = time.perf_counter()
    train = make_polydigits(3, split="train", canvas=a.canvas, seed=0)
    test = make_polydigits(3, split="test", canvas=a.canvas, seed=0)
    clfs = train_classifiers(train, max_iter=200, seed=0)
    clf_acc = {
        m: float(
            (
                clfs[m].predict(test.data[m].reshape(len(test), -1).numpy())
                == test.extras["label"].numpy()
            ).mean()
        )
        for m in test.modalities
    }
    _DATA.update(train=train, test=test, classifiers=clfs)
    opts = {
        "latent_dim": a.latent_dim,
        "hidden": a.hidden,
        "beta": a.beta,
        "steps": a.steps,
        "lr": a.lr,
        "batch_size": a.batch_size,
    }
    tasks = [(f, s, opts) for s in a.seeds for f in a.fusions]
    if a.workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(a.workers) as pool:
            runs = pool.map(_polydigits_task, tasks, chunksize=1)
    else:
        runs = [_polydigits_task(t) for t in tasks]
    total_s = time.perf_counter() - t0
    rows = {}
    for f in a.fusions:
        rs = [r for r in runs if r["fusion"] == f]
        uni = [np.mean([r["probe"][f"latent_m{i}"] for i in range(3)]) for r in rs]
        row = {
            "probe_unimodal": _summary(uni),
            "probe_joint": _summary([r["probe"]["latent"] for r in rs]),
            "coherence": _summary([r["coherence"]["mean"] for r in rs]),
            "reconstruction": _summary([r["reconstruction"]["total"] for r in rs]),
            "fit_s": _summary([r["fit_s"] for r in rs]),
        }
        for i in range(3):
            row[f"probe_m{i}"] = _summary([r["probe"][f"latent_m{i}"] for r in rs])
        rows[f] = row
    lines = [
        "| fusion | probe m0 | probe m1 | probe m2 | probe unimodal (mean) | probe joint "
        "| coherence | reconstruction NLL | fit s/run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f, row in rows.items():

        def fmt(k, digits=3, row=row):
            return f"{row[k][0]:.{digits}f} ± {row[k][1]:.{digits}f}"

        lines.append(
            f"| {f} | {fmt('probe_m0')} | {fmt('probe_m1')} | {fmt('probe_m2')} | "
            f"{fmt('probe_unimodal')} | {fmt('probe_joint')} | {fmt('coherence')} | "
            f"{fmt('reconstruction', 1)} | {row['fit_s'][0]:.0f} |"
        )
    best_rec = min(r["reconstruction"][0] for r in rows.values())
    mmvm = rows.get("mmvm")
    checks = {}
    if mmvm is not None:
        others = [f for f in rows if f != "mmvm"]
        checks["mmvm_unimodal_probe_ge_all"] = all(
            mmvm["probe_unimodal"][0] >= rows[f]["probe_unimodal"][0] for f in others
        )
        checks["mmvm_reconstruction_within_10pct"] = mmvm["reconstruction"][0] <= 1.1 * best_rec
    return {
        "settings": vars(a) | {"seeds": list(a.seeds), "fusions": list(a.fusions)},
        "classifier_accuracy_real_test": clf_acc,
        "rows": rows,
        "checks": checks,
        "total_s": total_s,
        "runs": runs,
        "table": "\n".join(lines),
    }


# ---------------------------------------------------------------------------- BasicMotions
def bench_basicmotions(a: argparse.Namespace) -> dict:
    from pyrodyn.data.basicmotions import load_basicmotions
    from pyrodyn.likelihoods.gaussian import Gaussian
    from pyrodyn.metrics.probes import linear_probe_accuracy, probe_accuracies
    from pyrodyn.nn.encoders.sequence_pool import SequencePoolEncoder

    t0 = time.perf_counter()
    train = load_basicmotions("train").standardize()
    test = load_basicmotions("test").standardize(standardizer=train.standardizer)
    mods = train.modalities
    ytr, yte = train.extras["label"].numpy(), test.extras["label"].numpy()
    raw = {
        m: linear_probe_accuracy(
            train.data[m].reshape(len(train), -1), ytr, test.data[m].reshape(len(test), -1), yte
        )
        for m in mods
    }
    raw["both"] = linear_probe_accuracy(
        torch.cat([train.data[m].reshape(len(train), -1) for m in mods], 1),
        ytr,
        torch.cat([test.data[m].reshape(len(test), -1) for m in mods], 1),
        yte,
    )
    # predicting the training mean: 0 after standardisation with the training statistics
    mean_mse = float((test.data["gyroscope"] ** 2).mean())
    runs = []
    for name in a.fusions:
        for seed in a.seeds:
            torch.manual_seed(seed)
            model = MultimodalVAE(
                {m: Gaussian(train.feature_shape(m)) for m in mods},
                {m: SequencePoolEncoder(3, a.latent_dim, bins=a.bins) for m in mods},
                FUSIONS[name](),
                decoder_hidden=(a.hidden,) if a.hidden else (),
                beta=a.beta,
            )
            t1 = time.perf_counter()
            fit(
                model,
                train,
                steps=a.steps,
                lr=a.lr,
                batch_size=a.batch_size,
                seed=seed,
                progress=False,
            )
            fit_s = time.perf_counter() - t1
            probes = probe_accuracies(model, train, test)
            gen = model.impute(test.batch(), ["accelerometer"])["gyroscope"]
            runs.append(
                {
                    "fusion": name,
                    "seed": seed,
                    "fit_s": fit_s,
                    "probe": probes,
                    "impute_gyro_mse": float(((gen - test.data["gyroscope"]) ** 2).mean()),
                }
            )
    rows = {}
    for name in a.fusions:
        rs = [r for r in runs if r["fusion"] == name]
        rows[name] = {
            "probe_accelerometer": _summary([r["probe"]["latent_accelerometer"] for r in rs]),
            "probe_gyroscope": _summary([r["probe"]["latent_gyroscope"] for r in rs]),
            "probe_fused": _summary([r["probe"]["latent"] for r in rs]),
            "impute_gyro_mse": _summary([r["impute_gyro_mse"] for r in rs]),
        }
    lines = [
        "| representation | accelerometer | gyroscope | fused / both "
        "| gyroscope-from-accelerometer MSE |",
        "|---|---|---|---|---|",
        f"| raw features (standardised) | {raw['accelerometer']:.3f} | {raw['gyroscope']:.3f} | "
        f"{raw['both']:.3f} | training mean: {mean_mse:.3f} |",
    ]
    for name, row in rows.items():

        def fmt(k, row=row):
            return f"{row[k][0]:.3f} ± {row[k][1]:.3f}"

        lines.append(
            f"| {name} | {fmt('probe_accelerometer')} | {fmt('probe_gyroscope')} | "
            f"{fmt('probe_fused')} | {fmt('impute_gyro_mse')} |"
        )
    checks = {}
    if "mmvm" in rows and "independent" in rows:
        mm, ind = rows["mmvm"], rows["independent"]
        checks["mmvm_single_modality_probe_ge_independent"] = bool(
            mm["probe_accelerometer"][0] >= ind["probe_accelerometer"][0]
            and mm["probe_gyroscope"][0] >= ind["probe_gyroscope"][0]
        )
    if "mmvm" in rows:
        checks["mmvm_imputation_beats_training_mean"] = (
            rows["mmvm"]["impute_gyro_mse"][0] < mean_mse
        )
    return {
        "settings": vars(a) | {"seeds": list(a.seeds), "fusions": list(a.fusions)},
        "raw_probe": raw,
        "training_mean_mse": mean_mse,
        "rows": rows,
        "checks": checks,
        "total_s": time.perf_counter() - t0,
        "runs": runs,
        "table": "\n".join(lines),
    }


# ---------------------------------------------------------------------------- estimators
def bench_estimators(a: argparse.Namespace) -> dict:
    from torch.distributions import Normal

    from pyrodyn.distributions.mixture_kl import kl_lse, kl_mc, kl_pairwise
    from pyrodyn.nn.fusion.moe import uniform_mixture

    gen = torch.Generator().manual_seed(a.seed)
    rows = []
    ok_lse_pw, ok_mc_lse = 0, 0
    for case in range(a.cases):
        spread = 0.5 if case % 2 == 0 else 3.0  # overlapping vs separated posteriors
        locs = spread * torch.randn(1, a.modalities, a.dim, generator=gen, dtype=torch.float64)
        scales = 0.3 + torch.rand(1, a.modalities, a.dim, generator=gen, dtype=torch.float64)
        h = uniform_mixture(locs, scales, torch.ones(1, a.modalities, dtype=torch.bool))
        q_loc, q_scale = locs[:, 0], scales[:, 0]
        pw = float(kl_pairwise(q_loc, q_scale, h))
        lse = float(kl_lse(q_loc, q_scale, h))
        torch.manual_seed(a.seed + case)
        eps = torch.randn(a.samples, 1, a.dim, dtype=torch.float64)
        z = q_loc + q_scale * eps
        per = kl_mc(q_loc, q_scale, h, value=z).item()
        terms = Normal(q_loc, q_scale).log_prob(z).sum(-1) - h.log_prob(z)
        se = float(terms.std() / math.sqrt(a.samples))
        ok_lse_pw += lse <= pw + 1e-12
        ok_mc_lse += per <= lse + 3 * se
        rows.append({"spread": spread, "mc": per, "mc_se": se, "lse": lse, "pairwise": pw})
    lines = ["| case | spread | mc (± se) | lse | pairwise |", "|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        lines.append(
            f"| {i} | {r['spread']} | {r['mc']:.4f} ± {r['mc_se']:.4f} | {r['lse']:.4f} | "
            f"{r['pairwise']:.3f} |"
        )
    return {
        "settings": vars(a),
        "log_M": math.log(a.modalities),
        "rows": rows,
        "checks": {
            "lse_le_pairwise": f"{ok_lse_pw}/{a.cases}",
            "mc_le_lse_within_3se": f"{ok_mc_lse}/{a.cases}",
        },
        "table": "\n".join(lines),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pd = sub.add_parser("polydigits")
    pd.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    pd.add_argument("--fusions", nargs="+", default=list(FUSIONS), choices=list(FUSIONS))
    pd.add_argument("--steps", type=int, default=1000)
    pd.add_argument("--lr", type=float, default=2e-3)
    pd.add_argument("--beta", type=float, default=0.25)
    pd.add_argument("--batch-size", type=int, default=128)
    pd.add_argument("--latent-dim", type=int, default=16)
    pd.add_argument("--hidden", type=int, default=128)
    pd.add_argument("--canvas", type=int, default=10)
    pd.add_argument("--workers", type=int, default=2)
    pd.add_argument("--out", default="bench_mmvm_polydigits.json")
    bm = sub.add_parser("basicmotions")
    bm.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    bm.add_argument(
        "--fusions",
        nargs="+",
        default=["independent", "mmvm", "poe", "mopoe"],
        choices=list(FUSIONS),
    )
    bm.add_argument("--steps", type=int, default=1000)
    bm.add_argument("--lr", type=float, default=2e-3)
    bm.add_argument("--beta", type=float, default=1.0)
    bm.add_argument("--batch-size", type=int, default=40)
    bm.add_argument("--latent-dim", type=int, default=16)
    bm.add_argument("--hidden", type=int, default=64)
    bm.add_argument("--bins", type=int, default=10)
    bm.add_argument("--out", default="bench_mmvm_basicmotions.json")
    es = sub.add_parser("estimators")
    es.add_argument("--cases", type=int, default=20)
    es.add_argument("--modalities", type=int, default=3)
    es.add_argument("--dim", type=int, default=4)
    es.add_argument("--samples", type=int, default=200_000)
    es.add_argument("--seed", type=int, default=0)
    es.add_argument("--out", default="bench_mmvm_estimators.json")
    a = p.parse_args()
    fn = {"polydigits": bench_polydigits, "basicmotions": bench_basicmotions}.get(
        a.cmd, bench_estimators
    )
    res = fn(a)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, default=float)
    print(res["table"])
    print(
        json.dumps(
            {
                k: v
                for k, v in res.items()
                if k
                in (
                    "checks",
                    "total_s",
                    "raw_probe",
                    "training_mean_mse",
                    "classifier_accuracy_real_test",
                    "log_M",
                )
            },
            default=float,
        )
    )


if __name__ == "__main__":
    main()

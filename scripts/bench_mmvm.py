"""Benchmarks of the fusion family and the MMVM VAE (issue 5; figures go to BENCHMARKS.md).

    python scripts/bench_mmvm.py polydigits   [--seeds 0 1 2] [--steps 1000] [--workers 2]
    python scripts/bench_mmvm.py basicmotions [--per-step] [--seeds 0 1 2] [--steps 1000]
    python scripts/bench_mmvm.py estimators

Each subcommand prints a markdown table and writes JSON (``--out``). Fusions are compared by
held-out metrics only: MMVM's objective is not an ELBO, so training losses are not comparable.

Hyper-parameters are chosen on a validation split of the *training* data, never on the test
split: ``--grid-beta``/``--grid-latent`` (and for PolyDigits ``--mmvm-estimator``/``--mmvm-alpha``
with several values) run the selection first. The PolyDigits defaults (beta 0.125, latent 32,
pairwise, alpha 0) are the choice of::

    python scripts/bench_mmvm.py polydigits --seeds 0 --grid-beta 0.125 0.25 0.5 \
        --grid-latent 16 32 --mmvm-estimator pairwise lse --mmvm-alpha 0 0.2

(one beta and latent size shared by all fusions, by the validation unimodal probe accuracy
averaged over the fusions; then MMVM's estimator and alpha by its own validation probe).
BasicMotions ``--per-step`` fits one latent per time step (time-aligned decoders) and, with a
grid, chooses each fusion's latent size / beta by its validation imputation error.
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
from pyrodyn.models.multimodal_vae_objective import MultimodalVAEObjective  # noqa: E402
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
def _make_fusion(name: str, opts: dict):
    if name == "mmvm":
        return MMVM(alpha=opts["mmvm_alpha"], estimator=opts["mmvm_estimator"])
    return FUSIONS[name]()


def _unimodal_probe(probe: dict, modalities: int = 3) -> float:
    return float(np.mean([probe[f"latent_m{i}"] for i in range(modalities)]))


def _polydigits_task(args: tuple) -> dict:
    from pyrodyn.likelihoods.laplace import Laplace
    from pyrodyn.metrics.probes import coherence, probe_accuracies, reconstruction_nll
    from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder

    name, seed, opts, stage = args
    torch.set_num_threads(1)
    train, evaluation = _DATA[stage]
    torch.manual_seed(seed)
    shape = train.feature_shape("m0")
    model = MultimodalVAE(
        {m: Laplace(shape, scale=0.75) for m in train.modalities},
        {
            m: StaticMLPEncoder(shape, opts["latent_dim"], (opts["hidden"],))
            for m in train.modalities
        },
        _make_fusion(name, opts),
        decoder_hidden=(opts["hidden"],),
    )
    model.elbo = MultimodalVAEObjective(beta=opts["beta"])
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
    out = {"fusion": name, "seed": seed, "stage": stage, "fit_s": fit_s}
    out["settings"] = {k: opts[k] for k in ("beta", "latent_dim", "mmvm_estimator", "mmvm_alpha")}
    out["probe"] = probe_accuracies(model, train, evaluation)
    if stage == "test":
        out["coherence"] = coherence(model, evaluation, _DATA["classifiers"])
        out["reconstruction"] = reconstruction_nll(model, evaluation)
    out["eval_s"] = time.perf_counter() - t0 - fit_s
    return out


def _run_tasks(tasks: list[tuple], workers: int) -> list[dict]:
    if workers > 1:
        import multiprocessing as mp

        # forked after _DATA is filled, so the workers share the data and classifiers
        with mp.get_context("fork").Pool(workers) as pool:
            return pool.map(_polydigits_task, tasks, chunksize=1)
    return [_polydigits_task(t) for t in tasks]


def bench_polydigits(a: argparse.Namespace) -> dict:
    from pyrodyn.data.polydigits import make_polydigits
    from pyrodyn.metrics.probes import train_classifiers

    t0 = time.perf_counter()
    train = make_polydigits(3, split="train", canvas=a.canvas, seed=0)
    test = make_polydigits(3, split="test", canvas=a.canvas, seed=0)
    opts = {
        "latent_dim": a.latent_dim,
        "hidden": a.hidden,
        "beta": a.beta,
        "steps": a.steps,
        "lr": a.lr,
        "batch_size": a.batch_size,
        "mmvm_estimator": a.mmvm_estimator[0],
        "mmvm_alpha": a.mmvm_alpha[0],
    }
    # Hyper-parameters are chosen on a validation split of the training tuples (never the test
    # tuples), with the first seed: the shared beta and latent size by the validation unimodal
    # probe accuracy averaged over all fusions (a criterion that favours no fusion), then MMVM's
    # own estimator and alpha by MMVM's validation unimodal probe at that shared setting.
    selection: list[dict] = []
    shared = [(b, d) for b in (a.grid_beta or [a.beta]) for d in (a.grid_latent or [a.latent_dim])]
    mmvm_grid = [(e, al) for e in a.mmvm_estimator for al in a.mmvm_alpha]
    if len(shared) > 1 or (len(mmvm_grid) > 1 and "mmvm" in a.fusions):
        _DATA["valid"] = train.split(a.valid_fraction, seed=0)
        seed = a.seeds[0]
        if len(shared) > 1:
            tasks = [
                (f, seed, opts | {"beta": b, "latent_dim": d}, "valid")
                for b, d in shared
                for f in a.fusions
            ]
            runs = _run_tasks(tasks, a.workers)
            selection += runs
            scores = [
                np.mean(
                    [
                        _unimodal_probe(r["probe"])
                        for r in runs
                        if (r["settings"]["beta"], r["settings"]["latent_dim"]) == (b, d)
                    ]
                )
                for b, d in shared
            ]
            b, d = shared[int(np.argmax(scores))]
            opts |= {"beta": b, "latent_dim": d}
        if len(mmvm_grid) > 1 and "mmvm" in a.fusions:
            done = {
                (r["settings"]["mmvm_estimator"], r["settings"]["mmvm_alpha"]): r
                for r in selection
                if r["fusion"] == "mmvm"
                and (r["settings"]["beta"], r["settings"]["latent_dim"])
                == (opts["beta"], opts["latent_dim"])
            }
            tasks = [
                ("mmvm", seed, opts | {"mmvm_estimator": e, "mmvm_alpha": al}, "valid")
                for e, al in mmvm_grid
                if (e, al) not in done
            ]
            runs = _run_tasks(tasks, a.workers)
            selection += runs
            by = done | {
                (r["settings"]["mmvm_estimator"], r["settings"]["mmvm_alpha"]): r for r in runs
            }
            e, al = max(mmvm_grid, key=lambda k: _unimodal_probe(by[k]["probe"]))
            opts |= {"mmvm_estimator": e, "mmvm_alpha": al}
        del _DATA["valid"]
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
    _DATA.update(test=(train, test), classifiers=clfs)
    chosen = {k: opts[k] for k in ("beta", "latent_dim", "mmvm_estimator", "mmvm_alpha")}
    tasks = [(f, s, opts, "test") for s in a.seeds for f in a.fusions]
    runs = _run_tasks(tasks, a.workers)
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
    lines += ["", f"Chosen on the validation split: {json.dumps(chosen)}"]
    if selection:
        lines += [
            "",
            "Validation unimodal probe accuracy (training tuples only, seed "
            f"{a.seeds[0]}) per setting:",
            "",
            "| beta | latent | MMVM estimator | MMVM alpha | "
            + " | ".join(a.fusions)
            + " | mean |",
            "|---" * (5 + len(a.fusions)) + "|",
        ]
        keyed: dict[tuple, dict[str, float]] = {}
        for r in selection:
            st = r["settings"]
            key = (st["beta"], st["latent_dim"], st["mmvm_estimator"], st["mmvm_alpha"])
            keyed.setdefault(key, {})[r["fusion"]] = _unimodal_probe(r["probe"])
        for key, vals in keyed.items():
            cells = [f"{vals[f]:.3f}" if f in vals else "-" for f in a.fusions]
            mean = f"{np.mean(list(vals.values())):.3f}" if len(vals) == len(a.fusions) else "-"
            lines.append(
                f"| {key[0]:g} | {key[1]} | {key[2]} | {key[3]:g} | "
                + " | ".join(cells)
                + f" | {mean} |"
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
        "chosen": chosen,
        "selection": selection,
        "classifier_accuracy_real_test": clf_acc,
        "rows": rows,
        "checks": checks,
        "total_s": total_s,
        "runs": runs,
        "table": "\n".join(lines),
    }


# ---------------------------------------------------------------------------- BasicMotions
def stratified_holdout(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean ``(N,)`` mask of a class-stratified held-out subset (``fraction`` of each class).

    Used to carve a validation split out of the *training* trials for choosing hyper-parameters,
    so the test trials are never seen before the final evaluation.
    """
    labels = np.asarray(labels)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = round(len(idx) * fraction)
        if k < 1 or k >= len(idx):
            raise ValueError(
                f"cannot hold out {fraction:.0%} of the {len(idx)} samples of class {c}"
            )
        held[rng.choice(idx, size=k, replace=False)] = True
    return held


def trial_summary(latent: torch.Tensor) -> torch.Tensor:
    """Per-trial features of per-step latent means ``(B, T, D)`` -> ``(B, 2 D)``.

    The mean and the standard deviation over time of each latent dimension: a fixed,
    parameter-free summary, so a linear probe on it stays a probe of the per-step representation
    (an oscillation's phase averages out, its amplitude does not).
    """
    if latent.dim() != 3:
        raise ValueError(f"latent must be (trials, time, dim), got shape {tuple(latent.shape)}")
    return torch.cat([latent.mean(1), latent.std(1, unbiased=False)], -1)


class _BasicMotionsSplit:
    """One train/evaluation pair of BasicMotions, as the model sees it and in reference units.

    ``model_train``/``model_eval`` are static samples (``(trials, 100, 3)`` per modality,
    standardised per time step and channel) or sequences (``(trials, 100)`` steps of ``(3,)``,
    standardised per channel). Imputation errors are always reported in the static units (per
    time step and channel, training statistics), where predicting the training mean curve gives
    the mean of the squared standardised test values, so static and per-step rows compare.
    """

    def __init__(self, train: dict, evaluate: dict, per_step: bool) -> None:
        from pyrodyn.data.dataset import MultimodalDataset

        def dataset(arrays: dict, static: bool) -> MultimodalDataset:
            data = {m: arrays[m] for m in ("accelerometer", "gyroscope")}
            return MultimodalDataset(data, static=static, extras={"label": arrays["label"]})

        self.ref_train = dataset(train, True).standardize()
        self.ref_eval = dataset(evaluate, True).standardize(
            standardizer=self.ref_train.standardizer
        )
        if per_step:
            self.model_train = dataset(train, False).standardize()
            self.model_eval = dataset(evaluate, False).standardize(
                standardizer=self.model_train.standardizer
            )
        else:
            self.model_train, self.model_eval = self.ref_train, self.ref_eval
        self.per_step = per_step

    def mean_mse(self) -> float:
        """MSE of predicting the training mean (0 in the reference units)."""
        return float((self.ref_eval.data["gyroscope"] ** 2).mean())

    def constant_mse(self) -> float:
        """MSE of predicting each channel's training mean over all steps (reference units)."""
        raw = self.ref_train.standardizer.inverse("gyroscope", self.ref_train.data["gyroscope"])
        const = raw.double().mean((0, 1)).expand_as(self.ref_eval.data["gyroscope"])
        ref = self.ref_train.standardizer.forward("gyroscope", const).float()
        return float(((ref - self.ref_eval.data["gyroscope"]) ** 2).mean())

    def imputation_mse(self, model: MultimodalVAE) -> float:
        """MSE of the gyroscope decoded from the accelerometer posterior mean (reference units)."""
        model.eval()
        gen = model.impute(self.model_eval.batch(), ["accelerometer"])["gyroscope"]
        raw = self.model_train.standardizer.inverse("gyroscope", gen.double())
        ref = self.ref_train.standardizer.forward("gyroscope", raw).float()
        return float(((ref - self.ref_eval.data["gyroscope"]) ** 2).mean())

    def probes(self, model: MultimodalVAE) -> dict[str, float]:
        """Activity probe accuracy of every latent (per-step latents: :func:`trial_summary`)."""
        from pyrodyn.metrics.probes import linear_probe_accuracy, probe_accuracies

        if not self.per_step:
            return probe_accuracies(model, self.model_train, self.model_eval)
        model.eval()
        ztr = model.encode(self.model_train.batch())
        zev = model.encode(self.model_eval.batch())
        ytr = self.model_train.extras["label"].numpy()
        yev = self.model_eval.extras["label"].numpy()
        return {
            k: linear_probe_accuracy(trial_summary(ztr[k]), ytr, trial_summary(zev[k]), yev)
            for k in zev
        }


def _basicmotions_model(name: str, latent_dim: int, beta: float, a: argparse.Namespace):
    from torch import nn

    from pyrodyn.likelihoods.gaussian import Gaussian
    from pyrodyn.nn.encoders.sequence_pool import SequencePoolEncoder
    from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder

    mods = ("accelerometer", "gyroscope")
    if a.per_step:
        # per-step latents from a +-10-step convolutional window; per-step decoders
        encoders = {
            m: TemporalConvEncoder(3, latent_dim, (11, 7, 5), hidden_dim=32, activation=nn.ELU)
            for m in mods
        }
        likelihoods = {m: Gaussian((3,)) for m in mods}
    else:
        encoders = {m: SequencePoolEncoder(3, latent_dim, bins=a.bins) for m in mods}
        likelihoods = {m: Gaussian((100, 3)) for m in mods}
    model = MultimodalVAE(
        likelihoods,
        encoders,
        FUSIONS[name](),
        decoder_hidden=(a.hidden,) if a.hidden else (),
        static=not a.per_step,
    )
    model.elbo = MultimodalVAEObjective(beta=beta)
    return model


def _basicmotions_fit(
    name: str, latent_dim: int, beta: float, seed: int, split: _BasicMotionsSplit, a
) -> tuple[MultimodalVAE, float]:
    torch.manual_seed(seed)
    model = _basicmotions_model(name, latent_dim, beta, a)
    t0 = time.perf_counter()
    fit(
        model,
        split.model_train,
        steps=a.steps,
        lr=a.lr,
        batch_size=a.batch_size,
        seed=seed,
        progress=False,
    )
    return model, time.perf_counter() - t0


def bench_basicmotions(a: argparse.Namespace) -> dict:
    from pyrodyn.data.basicmotions import basicmotions_arrays
    from pyrodyn.metrics.probes import linear_probe_accuracy

    t0 = time.perf_counter()
    train_arrays, test_arrays = basicmotions_arrays("train"), basicmotions_arrays("test")
    split = _BasicMotionsSplit(train_arrays, test_arrays, a.per_step)
    train, test = split.ref_train, split.ref_eval
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
    mean_mse = split.mean_mse()
    constant_mse = split.constant_mse()
    # hyper-parameters per fusion, chosen on a validation split of the training trials only
    chosen = {name: (a.latent_dim, a.beta) for name in a.fusions}
    selection = []
    grid = [(d, b) for d in (a.grid_latent or [a.latent_dim]) for b in (a.grid_beta or [a.beta])]
    if len(grid) > 1:
        held = stratified_holdout(train_arrays["label"], a.valid_fraction, seed=0)
        sub = {k: v[~held] for k, v in train_arrays.items()}
        val = {k: v[held] for k, v in train_arrays.items()}
        vsplit = _BasicMotionsSplit(sub, val, a.per_step)
        for name in a.fusions:
            scores = []
            for d, b in grid:
                model, _ = _basicmotions_fit(name, d, b, a.seeds[0], vsplit, a)
                mse = vsplit.imputation_mse(model)
                scores.append(mse)
                selection.append(
                    {"fusion": name, "latent_dim": d, "beta": b, "valid_impute_gyro_mse": mse}
                )
            chosen[name] = grid[int(np.argmin(scores))]
    runs = []
    for name in a.fusions:
        d, b = chosen[name]
        for seed in a.seeds:
            model, fit_s = _basicmotions_fit(name, d, b, seed, split, a)
            runs.append(
                {
                    "fusion": name,
                    "seed": seed,
                    "latent_dim": d,
                    "beta": b,
                    "fit_s": fit_s,
                    "probe": split.probes(model),
                    "impute_gyro_mse": split.imputation_mse(model),
                }
            )
    rows = {}
    for name in a.fusions:
        rs = [r for r in runs if r["fusion"] == name]
        rows[name] = {
            "latent_dim": chosen[name][0],
            "beta": chosen[name][1],
            "probe_accelerometer": _summary([r["probe"]["latent_accelerometer"] for r in rs]),
            "probe_gyroscope": _summary([r["probe"]["latent_gyroscope"] for r in rs]),
            "probe_fused": _summary([r["probe"]["latent"] for r in rs]),
            "impute_gyro_mse": _summary([r["impute_gyro_mse"] for r in rs]),
            "fit_s": _summary([r["fit_s"] for r in rs]),
        }
    lines = [
        "| representation | latent, beta | accelerometer | gyroscope | fused / both "
        "| gyroscope-from-accelerometer MSE | fit s/run |",
        "|---|---|---|---|---|---|---|",
        f"| raw features (standardised) | - | {raw['accelerometer']:.3f} | "
        f"{raw['gyroscope']:.3f} | {raw['both']:.3f} | training mean: {mean_mse:.3f} "
        f"(per-channel constant: {constant_mse:.3f}) | - |",
    ]
    for name, row in rows.items():

        def fmt(k, row=row):
            return f"{row[k][0]:.3f} ± {row[k][1]:.3f}"

        lines.append(
            f"| {name} | {row['latent_dim']}, {row['beta']:g} | {fmt('probe_accelerometer')} | "
            f"{fmt('probe_gyroscope')} | {fmt('probe_fused')} | {fmt('impute_gyro_mse')} | "
            f"{row['fit_s'][0]:.0f} |"
        )
    if selection:
        lines += [
            "",
            "Validation (training trials only) gyroscope-from-accelerometer MSE per setting:",
            "",
            "| fusion | latent | beta | validation MSE |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {s['fusion']} | {s['latent_dim']} | {s['beta']:g} | "
            f"{s['valid_impute_gyro_mse']:.3f} |"
            for s in selection
        ]
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
        "training_constant_mse": constant_mse,
        "selection": selection,
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
    # defaults chosen by the validation sweep in the module docstring
    pd.add_argument("--beta", type=float, default=0.125)
    pd.add_argument("--batch-size", type=int, default=128)
    pd.add_argument("--latent-dim", type=int, default=32)
    pd.add_argument("--hidden", type=int, default=128)
    pd.add_argument("--canvas", type=int, default=10)
    pd.add_argument("--workers", type=int, default=2)
    pd.add_argument(
        "--grid-beta",
        type=float,
        nargs="+",
        help="shared betas to choose from on a validation split of the training tuples",
    )
    pd.add_argument("--grid-latent", type=int, nargs="+", help="shared latent sizes likewise")
    pd.add_argument(
        "--mmvm-estimator",
        nargs="+",
        default=["pairwise"],
        choices=["pairwise", "lse", "mc"],
        help="MMVM KL estimator(s); several: chosen on the validation split",
    )
    pd.add_argument(
        "--mmvm-alpha",
        type=float,
        nargs="+",
        default=[0.0],
        help="MMVM N(0, I) weight(s); several: chosen on the validation split",
    )
    pd.add_argument("--valid-fraction", type=float, default=0.2)
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
    bm.add_argument(
        "--per-step",
        action="store_true",
        help="sequences with one latent per time step (time-aligned decoders) instead of one "
        "static latent per trial",
    )
    bm.add_argument(
        "--grid-latent",
        type=int,
        nargs="+",
        help="latent sizes to choose from (per fusion) on a validation split of the training "
        "trials",
    )
    bm.add_argument("--grid-beta", type=float, nargs="+", help="betas to choose from likewise")
    bm.add_argument("--valid-fraction", type=float, default=0.25)
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
                    "training_constant_mse",
                    "classifier_accuracy_real_test",
                    "log_M",
                )
            },
            default=float,
        )
    )


if __name__ == "__main__":
    main()

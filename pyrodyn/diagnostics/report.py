"""``diagnostics.json`` and ``diagnostics.md``: the summary a ``diagnose`` run leaves behind."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from pyrodyn.diagnostics.psis import KHAT_THRESHOLD
from pyrodyn.diagnostics.verdicts import NOT_APPLICABLE, verdicts


def _clean(x: Any) -> Any:
    """JSON-safe plain data (non-finite floats become strings ``"inf"``, ``"nan"``)."""
    if isinstance(x, Mapping):
        return {str(k): _clean(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "tolist"):
        return _clean(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def write_json(summary: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Writes the summary as indented JSON."""
    with open(path, "w") as f:
        json.dump(_clean(summary), f, indent=2)
        f.write("\n")


def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.{digits}f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return lines


def render_markdown(summary: Mapping[str, Any]) -> str:
    """Human-readable report of a :func:`~pyrodyn.diagnostics.diagnose` summary.

    Opens with a verdict per question (:mod:`pyrodyn.diagnostics.verdicts`), each with its
    figure and what to try when it fails, and the diagnostics that do not apply with the reason;
    then the details: SBC, LFO, importance diagnostics with the flagged trials, LOO, PPC
    coverage, dynamics checks and the figures written.
    """
    out = [f"# Diagnostics: {summary.get('model', 'model')}", ""]
    facts = [
        ("run", summary.get("run_dir")),
        ("data", summary.get("data")),
        ("trials diagnosed", summary.get("num_trials")),
        ("draws per trial", summary.get("num_samples")),
        ("window", summary.get("window")),
    ]
    out += [f"- {k}: {v}" for k, v in facts if v is not None]
    out += _verdict_lines(summary) + _not_applicable_lines(summary)
    out += _sbc_lines(summary) + _lfo_lines(summary)
    out += ["", "## Importance diagnostics (trials as units)", ""]
    imp = summary.get("importance", {})
    if not imp.get("applies", False):
        out.append(f"Not applicable: {imp.get('reason', 'the model is not an ELBO model')}.")
    else:
        thr = imp.get("khat_threshold", KHAT_THRESHOLD)
        out += _table(
            [
                "K",
                "mean IWAE (nats/trial)",
                "mean ELBO (nats/trial)",
                "median k-hat",
                "max k-hat",
                f"k-hat > {thr}",
                "mean ESS",
            ],
            [
                [
                    imp["num_particles"],
                    imp["iwae_mean"],
                    imp["elbo_mean"],
                    imp["khat_median"],
                    imp["khat_max"],
                    imp["num_flagged"],
                    imp["ess_mean"],
                ]
            ],
        )
        if "amortisation_gap_mean" in imp:
            out += [
                "",
                f"Mean amortisation gap (ELBO gained by per-trial refinement): "
                f"{_fmt(imp['amortisation_gap_mean'])} nats per trial.",
            ]
        elif imp.get("amortisation_note"):
            out += ["", f"Amortisation gap: {imp['amortisation_note']}."]
        if imp.get("khat_note"):
            out += ["", f"Note: {imp['khat_note']}."]
        flagged = [r for r in imp.get("per_trial", []) if r.get("flagged")]
        out += [
            "",
            f"Trials with k-hat > {thr} (importance-weighted estimates unreliable): {len(flagged)}",
            "",
        ]
        if flagged and any("start" in r for r in flagged):
            # windows of a recording: the trial alone does not say which window
            out += _table(
                ["trial", "start step", "k-hat", "IWAE", "ELBO", "ESS"],
                [
                    [r["trial"], r.get("start", 0), r["khat"], r["iwae"], r["elbo"], r["ess"]]
                    for r in flagged
                ],
            )
        elif flagged:
            out += _table(
                ["trial", "k-hat", "IWAE", "ELBO", "ESS"],
                [[r["trial"], r["khat"], r["iwae"], r["elbo"], r["ess"]] for r in flagged],
            )
        if imp.get("num_constant"):
            out += [
                "",
                f"{imp['num_constant']} trial(s) have constant importance ratios (the "
                "guide equals the posterior there; k-hat is inf by convention, not flagged).",
            ]
    out += ["", "## Leave-one-trial-out predictive accuracy per modality", ""]
    loo = summary.get("loo", {})
    if not loo or not loo.get("applies", True):
        out.append(f"Not applicable: {loo.get('reason', 'no ELBO guide')}.")
    else:
        # each row names its estimator (pyrodyn.diagnostics.loo.ESTIMATORS)
        rows = []
        for m, r in loo.items():
            if not isinstance(r, Mapping):
                continue
            for e in (r, r.get("is_marginal")):
                if isinstance(e, Mapping):
                    name, p_loo = e.get("estimator", "psis_loo"), e.get("p_loo", "-")
                    k_max, k_bad = e["khat_max"], e["num_khat_above_threshold"]
                    rows.append([m, name, e["elpd_loo"], e["se"], p_loo, k_max, k_bad])
        out += _table(
            ["modality", "estimator", "elpd", "se", "p_loo", "max k-hat", "k-hat > 0.7"], rows
        )
        out += [
            "",
            "psis_loo: ArviZ's PSIS-LOO with the guide draws taken as posterior draws, one "
            "observation per trial and modality (`az.loo(posterior.nc, var_name=modality)` gives "
            "these numbers); is_marginal: importance sampling from the guide per trial, an "
            "estimate of log p(x_m) that corrects for the guide (ratios in "
            "`sample_stats.log_ratio_<modality>`).",
        ]
    out += ["", "## Posterior predictive checks", ""]
    ppc = summary.get("ppc", {})
    rows = []
    for m, r in ppc.items():
        cov = r.get("coverage", {})
        rows.append(
            [
                m,
                r.get("kind"),
                cov.get("0.5", "nan"),
                cov.get("0.9", "nan"),
                r.get("p_mean", "nan"),
                r.get("p_sd", "nan"),
            ]
        )
    out += _table(["modality", "kind", "coverage 50%", "coverage 90%", "p(mean)", "p(sd)"], rows)
    dyn = summary.get("dynamics")
    if dyn:
        out += ["", "## Generated versus observed dynamics", ""]
        out += _table(
            ["modality", "D_H (spectrum)", "D_stsp (occupancy)", "method"],
            [
                [m, r["d_h"], r["d_stsp"], r["d_stsp_method"]]
                for m, r in dyn.items()
                if isinstance(r, Mapping) and not m.startswith("_")
            ],
        )
    files = summary.get("files", [])
    if files:
        out += ["", "## Files", ""] + [f"- `{f}`" for f in files]
    return "\n".join(out) + "\n"


def _verdict_lines(summary: Mapping[str, Any]) -> list[str]:
    """The verdict table, then per question the finding, its figures and what to try."""
    found = summary.get("verdicts") or verdicts(summary)
    out = ["", "## Verdicts", ""]
    out += _table(
        ["question", "check", "verdict"],
        [[v["question"], v["check"], f"**{v['status']}**"] for v in found],
    )
    for i, v in enumerate(found, 1):
        if v["status"] == NOT_APPLICABLE:
            continue
        out += ["", f"### {i}. {v['question']} **{v['status']}**", "", v["finding"]]
        out += [line for f in v["figures"] for line in ("", f"![{f}]({f})")]
        if v["advice"]:
            title = "What to try:" if v["status"] != "pass" else "If it falls short:"
            out += ["", title, ""] + [f"- {a}" for a in v["advice"]]
    return out


def _not_applicable_lines(summary: Mapping[str, Any]) -> list[str]:
    """Every diagnostic that did not run, with the reason."""
    found = summary.get("verdicts") or verdicts(summary)
    rows = [(v["check"], v["finding"]) for v in found if v["status"] == NOT_APPLICABLE]
    loo = summary.get("loo") or {}
    if isinstance(loo, Mapping) and loo.get("applies") is False:
        rows.append(("leave-one-trial-out elpd (LOO)", loo.get("reason", "")))
    imp = summary.get("importance") or {}
    if imp.get("applies") and "amortisation_gap_mean" not in imp:
        rows.append(
            (
                "amortisation gap",
                imp.get("amortisation_note")
                or "not run (0 refinement steps; `--amortisation-steps 100` runs it)",
            )
        )
    if summary.get("is_dynamical") is False:
        rows.append(
            (
                "generated dynamics (D_H, D_stsp)",
                f"{summary.get('model', 'the model')} does not generate free-running "
                "trajectories (no Generates capability)",
            )
        )
    if not rows:
        return []
    return ["", "## Not applicable here", ""] + [f"- **{c}**: {r}" for c, r in rows]


def _sbc_lines(summary: Mapping[str, Any]) -> list[str]:
    s = summary.get("sbc") or {}
    if not s.get("applies"):
        return []
    out = ["", "## Simulation-based calibration", ""]
    out += [
        f"{s['num_simulations']} simulations, {s['num_draws']} posterior draws each, ranks in "
        f"{s['num_bins']} bins; uniformity rejected (chi-square, Bonferroni at {s['alpha']}) in "
        f"{s['num_rejected']} of {s['num_coordinates']} coordinates.",
        "",
    ]
    rows = sorted(s["per_coordinate"], key=lambda r: r["p_value"])
    out += _table(
        ["coordinate", "chi2", "p", "rejected", "mean rank", "shape"],
        [
            [
                r["name"],
                r["chi2"],
                f"{r['p_value']:.2g}",
                "yes" if r["rejected"] else "no",
                r.get("mean_rank", "nan"),
                r.get("shape", "") if r["rejected"] else "uniform",
            ]
            for r in rows
        ],
    )
    return out


def _lfo_lines(summary: Mapping[str, Any]) -> list[str]:
    s = summary.get("lfo") or {}
    if not s.get("applies"):
        return []
    out = ["", "## Leave-future-out predictive accuracy", ""]
    source = f" of {s['source']}" if s.get("source") else ""
    out += [
        f"{s['num_sequences']} held-out sequences{source}, {s['num_origins']} origins each, "
        f"{s['horizon']}-step-ahead, {s['num_draws']} draws per origin; latents after each "
        f"fit's prefix drawn by the {s['future_latents']}; {s['num_refits']} re-encodings.",
        "",
    ]
    out += _table(
        ["origin", "elpd (sum over sequences)", "max k-hat"],
        [
            [o, e, k]
            for o, e, k in zip(s["origins"], s["elpd_per_origin"], s["khat_per_origin_max"])
        ],
    )
    out += [
        "",
        f"Total elpd {_fmt(s['elpd'])} nats; k-hat > {s['khat_threshold']} in "
        f"{s['num_khat_above_threshold']} of {s['num_evaluations']} predictions.",
    ]
    return out


def write_markdown(summary: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Writes :func:`render_markdown` to ``path``."""
    with open(path, "w") as f:
        f.write(render_markdown(summary))

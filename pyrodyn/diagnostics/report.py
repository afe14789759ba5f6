"""``diagnostics.json`` and ``diagnostics.md``: the summary a ``diagnose`` run leaves behind."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from pyrodyn.diagnostics.psis import KHAT_THRESHOLD


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

    Importance diagnostics with the flagged trials, LOO, PPC coverage, dynamics checks and the
    figures written.
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
        rows = [
            [m, r["elpd_loo"], r["se"], r["p_loo"], r["khat_max"], r["num_khat_above_threshold"]]
            for m, r in loo.items()
            if isinstance(r, Mapping)
        ]
        out += _table(["modality", "elpd", "se", "p_loo", "max k-hat", "k-hat > 0.7"], rows)
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


def write_markdown(summary: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Writes :func:`render_markdown` to ``path``."""
    with open(path, "w") as f:
        f.write(render_markdown(summary))

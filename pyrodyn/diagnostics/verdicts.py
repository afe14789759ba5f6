"""One verdict per question a scientist asks of a fitted model, from a ``diagnose`` summary.

1. *Is the posterior calibrated?* Simulation-based calibration (Talts et al. 2018).
2. *Does the model predict the held-out future?* PSIS leave-future-out CV (Bürkner, Gabry and
   Vehtari 2020).
3. *Do replicated data look like the data?* Posterior predictive checks per modality.
4. *Can importance-weighted numbers be trusted?* PSIS k-hat per trial (Yao et al. 2018).

A verdict is plain data: the question, the check, a status (``"pass"``, ``"fail"`` or
``"not applicable"``), the finding in words, what to try when it fails, and the figures that
show it. Everything is read off the summary that :func:`~pyrodyn.diagnostics.diagnose` writes to
``diagnostics.json``, so the same verdicts can be recomputed from that file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

PASS, FAIL, NOT_APPLICABLE = "pass", "fail", "not applicable"

#: Central-interval coverage outside these bounds fails the PPC of a modality.
COVERAGE_BOUNDS: dict[str, tuple[float, float]] = {"0.5": (0.40, 0.60), "0.9": (0.85, 0.95)}
#: Posterior predictive p-values of the mean or sd beyond these fail the PPC of a modality.
P_VALUE_BOUNDS: tuple[float, float] = (0.01, 0.99)
#: ... and only with a difference of mean or sd larger than this fraction of the data's sd.
MIN_EFFECT: float = 0.1
#: LFO fails when more than this fraction of (sequence, origin) pairs keep k-hat > 0.7.
LFO_UNRELIABLE_FRACTION: float = 0.1

STRUCTURED = (
    "a structured guide: `model.guide_family: structured` in the config (SVAE), "
    "`SVAE(..., guide_family='structured')` in Python; a Gaussian over the whole trajectory "
    "with Markov coupling between steps, where mean-field treats the steps as independent"
)


def _verdict(question: str, check: str, status: str, finding: str, **kw: Any) -> dict[str, Any]:
    return {
        "question": question,
        "check": check,
        "status": status,
        "finding": finding,
        "advice": list(kw.get("advice", [])),
        "figures": list(kw.get("figures", [])),
    }


def _figures(summary: Mapping[str, Any], *names: str) -> list[str]:
    files = set(summary.get("files", []))
    return [n for n in names if n in files]


def _structured_advice(summary: Mapping[str, Any]) -> list[str]:
    if summary.get("guide_family") == "StructuredMarkov":
        return []
    return [f"Try {STRUCTURED}."]


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def calibration_verdict(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Is the posterior calibrated? Simulation-based calibration."""
    q, check = "Is the posterior calibrated?", "simulation-based calibration"
    s = summary.get("sbc") or {"applies": False, "reason": "SBC was not run"}
    if not s.get("applies"):
        return _verdict(q, check, NOT_APPLICABLE, s.get("reason", "SBC was not run"))
    n, lr = s["num_simulations"], s["num_draws"]
    coords = s["per_coordinate"]
    bad = [c for c in coords if c["rejected"]]
    what = (
        f"{n} data sets simulated from the fitted model, the true latent ranked among {lr} "
        f"posterior draws at one random step each"
    )
    figures = _figures(summary, "sbc.png")
    if not bad:
        return _verdict(
            q,
            check,
            PASS,
            f"Yes: {what}; the ranks are uniform in all {len(coords)} latent coordinates "
            f"(smallest p = {_fmt_p(s['min_p_value'])}, family-wise level {s['alpha']}). SBC "
            "checks the guide against the model's own posterior, not the model against the data.",
            figures=figures,
        )
    shapes: dict[str, list[str]] = {}
    for c in bad:
        shapes.setdefault(c.get("shape", "non-uniform"), []).append(c["name"])
    described = "; ".join(
        f"{shape}: {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}"
        for shape, names in shapes.items()
    )
    advice = _structured_advice(summary)
    if "too narrow" in shapes:
        advice.append(
            "A posterior too narrow (U-shaped ranks) is what mean-field guides over correlated "
            "latents give: they understate the uncertainty; a richer guide is the fix."
        )
    if {"biased low", "biased high"} & set(shapes):
        advice.append(
            "Biased ranks mean the encoder misplaces the latents of data the model itself "
            "generates: train longer (`fit.steps`) or give the encoder more capacity."
        )
    advice.append(
        "With a borderline result, confirm it with more simulations "
        "(`pyrodyn diagnose --sbc-sims 1000`)."
    )
    return _verdict(
        q,
        check,
        FAIL,
        f"No: {what}; the ranks are not uniform in {len(bad)} of {len(coords)} latent "
        f"coordinates (smallest p = {_fmt_p(s['min_p_value'])}) — {described}.",
        advice=advice,
        figures=figures,
    )


def forecast_verdict(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Does the model predict the held-out future? PSIS leave-future-out CV."""
    q, check = "Does the model predict the held-out future?", "leave-future-out CV"
    s = summary.get("lfo") or {"applies": False, "reason": "LFO was not run"}
    if not s.get("applies"):
        return _verdict(q, check, NOT_APPLICABLE, s.get("reason", "LFO was not run"))
    h = s["horizon"]
    where = f" of {s['source']}" if s.get("source") else ""
    what = (
        f"{h}-step-ahead predictions at {s['num_origins']} origins in each of "
        f"{s['num_sequences']} held-out sequences{where}"
    )
    figures = _figures(summary, "lfo.png")
    score = (
        f"elpd {s['elpd']:.1f} nats in all, {s['elpd_per_prediction']:.2f} per prediction "
        "(higher is better; compare models on the same held-out data)"
    )
    bad, cells = s["num_khat_above_threshold"], s["num_evaluations"]
    if s["unreliable_fraction"] > LFO_UNRELIABLE_FRACTION:
        advice = [
            *_structured_advice(summary),
            "The guide encoding a prefix is a poor importance proposal for the posterior given "
            "that prefix; shorter windows (`--window`) have fewer latent coordinates to miss.",
            "More draws (`-K`) help only where k-hat lies between 0.5 and 0.7.",
        ]
        return _verdict(
            q,
            check,
            FAIL,
            f"Cannot tell: {what} give {score}, but k-hat stays above {s['khat_threshold']} "
            f"after re-encoding in {bad} of {cells} predictions (median k-hat "
            f"{s['khat_median']:.2f}), so these numbers are unreliable.",
            advice=advice,
            figures=figures,
        )
    return _verdict(
        q,
        check,
        PASS,
        f"Scored reliably: {what} give {score}; k-hat above {s['khat_threshold']} in {bad} of "
        f"{cells} predictions.",
        advice=[
            "A low elpd with reliable k-hat points at the model, not the inference: another "
            "likelihood (see the predictive checks) or richer dynamics."
        ],
        figures=figures,
    )


def _moments(r: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """``(observed mean, observed sd, replicated mean, replicated sd)`` of a PPC summary."""
    if "obs_mean" in r:
        return r["obs_mean"], r["obs_sd"], r["rep_mean"], r["rep_sd"]
    table = r.get("counts") or r.get("categories")
    if not table:
        return None
    v = np.asarray(table.get("value", table.get("category")), dtype=np.float64)
    out = []
    for key in ("observed", "expected" if "counts" in r else "predicted"):
        w = np.asarray(table[key], dtype=np.float64)
        w = w / w.sum()
        mean = float((w * v).sum())
        out += [mean, float(np.sqrt((w * (v - mean) ** 2).sum()))]
    return out[0], out[1], out[2], out[3]


def _ppc_problems(m: str, r: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Findings and advice for one modality's predictive checks.

    Coverage outside :data:`COVERAGE_BOUNDS` fails; a predictive p-value of the mean or sd
    beyond :data:`P_VALUE_BOUNDS` fails only with a difference that matters (more than
    :data:`MIN_EFFECT` of the data's sd): with thousands of entries a negligible offset is
    already significant.
    """
    kind, found, advice = r.get("kind", "continuous"), [], []
    narrow = wide = False
    for level, (lo, hi) in COVERAGE_BOUNDS.items():
        c = r.get("coverage", {}).get(level)
        if c is None or c != c:  # missing or NaN
            continue
        if not lo <= c <= hi:
            found.append(f"{float(level):.0%} intervals cover {c:.2f}")
            narrow, wide = narrow or c < lo, wide or c > hi
    lo, hi = P_VALUE_BOUNDS
    moments = _moments(r)
    p_sd, p_mean = r.get("p_sd"), r.get("p_mean")
    if moments is not None and p_sd is not None and not lo <= p_sd <= hi:
        obs_mean, obs_sd, rep_mean, rep_sd = moments
        if abs(rep_sd - obs_sd) > MIN_EFFECT * obs_sd:
            more = "more" if rep_sd < obs_sd else "less"
            found.append(
                f"the data vary {more} than replications (sd {obs_sd:.3g} against {rep_sd:.3g}, "
                f"p(sd) = {p_sd:.3f})"
            )
            narrow, wide = narrow or rep_sd < obs_sd, wide or rep_sd > obs_sd
    if moments is not None and p_mean is not None and not lo <= p_mean <= hi:
        obs_mean, obs_sd, rep_mean, _ = moments
        if abs(rep_mean - obs_mean) > MIN_EFFECT * obs_sd:
            found.append(
                f"replications miss the data's mean ({obs_mean:.3g} against {rep_mean:.3g}, "
                f"p(mean) = {p_mean:.3f})"
            )
            advice.append(
                f"{m}: the predictive mean is off; check the decoder, the offset and the "
                "standardisation of this modality."
            )
    if narrow and kind == "count":
        advice.append(
            f"{m}: counts more variable than the likelihood allows; try NegativeBinomial "
            "(overdispersion) or ZeroInflatedPoisson (excess zeros)."
        )
    elif narrow and kind == "continuous":
        advice.append(
            f"{m}: the predictive is too narrow; try a heavier-tailed likelihood (Laplace) or "
            "let the Gaussian learn its scale."
        )
    elif narrow:
        advice.append(
            f"{m}: the predictive is too confident; try Categorical instead of Ordinal where "
            "the codes are not ordered, or more latent dimensions."
        )
    if wide:
        less = {
            "count": "a less dispersed likelihood (Poisson instead of NegativeBinomial), ",
            "continuous": "a smaller or learned noise scale, ",
        }.get(kind, "")
        advice.append(
            f"{m}: the predictive is wider than the data; the noise or dispersion is too large "
            f"or the latents explain too little: {less}longer training or more latent "
            "dimensions."
        )
    return found, advice


def replication_verdict(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Do replicated data look like the data? Posterior predictive checks per modality."""
    q, check = "Do replicated data look like the data?", "posterior predictive checks"
    ppc = summary.get("ppc") or {}
    if not ppc:
        return _verdict(q, check, NOT_APPLICABLE, "no modality has posterior predictive draws")
    findings, advice, bad = [], [], []
    for m, r in ppc.items():
        found, adv = _ppc_problems(m, r)
        if found:
            bad.append(m)
            findings.append(f"{m} ({r.get('kind')}): {'; '.join(found)}")
            advice += adv
    figures = _figures(summary, "ppc.png", "calibration.png")
    cover = ", ".join(
        f"{m} {float(r.get('coverage', {}).get('0.9', float('nan'))):.2f}" for m, r in ppc.items()
    )
    if not bad:
        return _verdict(
            q,
            check,
            PASS,
            f"Yes, in every modality: 90% predictive intervals cover {cover} of the observed "
            "entries and the replications match the data's mean and spread.",
            figures=figures,
        )
    return _verdict(
        q,
        check,
        FAIL,
        f"Not in {len(bad)} of {len(ppc)} modalities: " + "; ".join(findings) + ".",
        advice=advice,
        figures=figures,
    )


def importance_verdict(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Can importance-weighted numbers be trusted? PSIS k-hat per trial."""
    q, check = "Can importance-weighted numbers be trusted?", "PSIS k-hat per trial"
    imp = summary.get("importance") or {}
    if not imp.get("applies"):
        return _verdict(q, check, NOT_APPLICABLE, imp.get("reason", "not computed"))
    n = imp.get("num_trials", len(imp.get("per_trial", [])))
    k, thr = imp.get("num_flagged", 0), imp.get("khat_threshold", 0.7)
    median, ess = float(imp.get("khat_median", "nan")), float(imp.get("ess_mean", "nan"))
    draws = imp.get("num_particles", "?")
    unit = "windows" if summary.get("window") else "trials"
    figures = _figures(summary, "khat.png")
    if k == 0:
        return _verdict(
            q,
            check,
            PASS,
            f"Yes: k-hat <= {thr} in all {n} {unit} (median {median:.2f}, mean ESS {ess:.1f} of "
            f"{draws} draws); IWAE and the LOO elpd are "
            "reliable estimates.",
            figures=figures,
        )
    advice = [
        *_structured_advice(summary),
        "Shorter windows (`--window`): k-hat grows with the number of latent coordinates the "
        "guide has to get right at once.",
        f"More draws (`-K`, now {draws}) help only where k-hat lies between 0.5 "
        f"and {thr}; above it the guide itself has to change.",
    ]
    if "amortisation_gap_mean" in imp:
        advice.append(
            f"The amortisation gap is {imp['amortisation_gap_mean']:.1f} nats per trial: that "
            "much ELBO is lost to sharing one encoder across trials (a larger gap points at the "
            "encoder, a small one at the guide family)."
        )
    else:
        advice.append(
            "`--amortisation-steps 100` measures how much a per-trial refinement of the guide "
            "would gain (the encoder's share of the problem)."
        )
    return _verdict(
        q,
        check,
        FAIL,
        f"No: k-hat > {thr} in {k} of {n} {unit} (median {median:.2f}, mean ESS {ess:.1f} of "
        f"{draws} draws). There the guide misses "
        "posterior mass: the IWAE is still a lower bound on log p(x), but the importance-"
        "weighted estimates (LOO elpd, log p(x)) are unreliable.",
        advice=advice,
        figures=figures,
    )


def verdicts(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The four verdicts, in the order of the questions (see the module docstring)."""
    return [
        calibration_verdict(summary),
        forecast_verdict(summary),
        replication_verdict(summary),
        importance_verdict(summary),
    ]


__all__ = [
    "COVERAGE_BOUNDS",
    "FAIL",
    "LFO_UNRELIABLE_FRACTION",
    "MIN_EFFECT",
    "NOT_APPLICABLE",
    "PASS",
    "P_VALUE_BOUNDS",
    "calibration_verdict",
    "forecast_verdict",
    "importance_verdict",
    "replication_verdict",
    "verdicts",
]

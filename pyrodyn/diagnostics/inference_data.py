"""Posterior draws of a fitted model as ArviZ data (``InferenceData``), laid out for ArviZ's LOO.

One ArviZ observation is one modality of one trial (a window of a recording acts as a trial):
``az.loo``, ``az.compare``, ``az.plot_khat`` and ``az.plot_loo_pit`` with ``var_name=<modality>``
/ ``y=<modality>`` run on the file and give the PSIS-LOO pyrodyn reports
(:func:`pyrodyn.diagnostics.loo.psis_loo`). Groups and dims (one chain: guide draws are i.i.d.):

* ``posterior``: every latent site of the guide ``(chain, draw, trial, time, latent)`` (sites
  with another shape, e.g. Fourier coefficients, get ``<site>_dim_<i>`` dims), the model's
  ``pyro.deterministic`` sites, and global random parameters ``(chain, draw, ...)``;
* ``log_likelihood``: ``<modality>`` ``(chain, draw, trial)``, ``log p(x_{i,m} | z)`` summed
  over the trial's steps and features (missing entries contribute 0);
* ``observed_data`` / ``posterior_predictive``: ``<modality>`` ``(trial,)`` /
  ``(chain, draw, trial)``, the trial's mean over its observed entries (the test quantity of
  ``az.plot_loo_pit``, whose observation dims must be the log-likelihood's), and
  ``<modality>_full`` ``(trial, time, <modality>_feature)`` / ``(chain, draw, trial, time, ...)``,
  the observations (NaN where missing) and their replications;
* ``sample_stats``: ``log_weight`` = ``log p(x, z) - log q(z | x)``, ``log_prior``, ``log_q`` and,
  per modality, ``log_ratio_<modality>`` = ``log p(x_m | z) + log p(z) - log q(z | x)`` (the
  ratios of pyrodyn's second estimator, ``is_marginal``), each ``(chain, draw, trial)``;
* ``constant_data``: ``times`` ``(trial, time)``.

Every group with a ``trial`` dim carries the coordinates ``source_trial`` (the trial of the
source data) and, for windows, ``start`` (its first step); the groups' attrs name the estimators.
Static data has no ``time`` dim. Site names are sanitised (:func:`var_name`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics import arviz_adapter
from pyrodyn.diagnostics.loo import ESTIMATORS, IS_MARGINAL, PSIS_LOO
from pyrodyn.diagnostics.sampling import PosteriorDraws, draw_posterior, select_trials
from pyrodyn.models.base import GenerativeModel

#: Dim names a variable may not take (xarray would read it as that dim's coordinate).
RESERVED_NAMES = ("chain", "draw", "trial", "time", "latent")


def var_name(site: str) -> str:
    """A netCDF-friendly variable name for a Pyro site name.

    ``prior.z`` -> ``prior_z``; a site named like a dim (``latent``) becomes ``latent_site``.
    """
    name = site.replace(".", "_").replace("/", "_")
    return f"{name}_site" if name in RESERVED_NAMES else name


def _feature_dims(modality: str, ndim: int) -> list[str]:
    if ndim == 1:
        return [f"{modality}_feature"]
    return [f"{modality}_feature_{i}" for i in range(ndim)]


def _latent_dims(name: str, shape: tuple[int, ...], lead: list[str], taken: dict) -> list[str]:
    """Dims of a latent site value after the sample dims.

    ``(trial, time, latent)`` when it looks like a time-domain trajectory, generic
    ``<name>_dim_<i>`` dims otherwise.
    """
    rest = shape[len(lead) :]
    if len(rest) == 1 and taken.setdefault("latent", rest[0]) == rest[0]:
        return [*lead, "latent"]
    return [*lead, *(f"{name}_dim_{i}" for i in range(len(rest)))]


#: Suffix of the full-resolution observations and replications of a modality.
FULL = "_full"

#: What the groups hold, for their netCDF attrs.
ATTRS = {
    "log_likelihood": {
        "observation": "one trial (window): log p(x_m | z) summed over its steps and features",
        "az_loo": f"az.loo(var_name=m) is pyrodyn's {PSIS_LOO!r}: {ESTIMATORS[PSIS_LOO]}",
        "importance_sampling": (
            f"pyrodyn's {IS_MARGINAL!r}: {ESTIMATORS[IS_MARGINAL]}; elpd_i = "
            "logsumexp_draws(sample_stats.log_ratio_m) - log(draws)"
        ),
    },
    "observed_data": {
        "statistic": "m: mean of the trial's observed entries (az.plot_loo_pit's y); "
        f"m{FULL}: the observations, NaN where missing",
    },
    "posterior_predictive": {
        "statistic": "m: mean of the replication over the trial's observed entries; "
        f"m{FULL}: the replications",
    },
    "sample_stats": {
        "log_ratio_m": f"log p(x_m | z) + log p(z) - log q(z | x): ratios of {IS_MARGINAL!r}",
        "log_weight": "log p(x, z) - log q(z | x) over all modalities (IWAE, k-hat)",
    },
}


def _trial_mean(values: np.ndarray, observed: np.ndarray, lead: int) -> np.ndarray:
    """Mean of ``values (..., B, *rest)`` over the entries ``observed (B, *rest)`` has.

    NaN for a trial without an observed entry.
    """
    seen = ~np.isnan(observed)
    axes = tuple(range(values.ndim - observed.ndim + lead, values.ndim))
    total = np.where(seen, values, 0.0).sum(axis=axes)
    count = seen.sum(axis=tuple(range(lead, observed.ndim)))
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def draws_to_groups(draws: PosteriorDraws) -> tuple[dict, dict, dict]:
    """Neutral ``(groups, dims, coords)`` for :func:`arviz_adapter.build`."""
    b = draws.num_trials
    t = None if draws.static else next(iter(draws.log_lik.values())).shape[2]
    lead = ["trial"] if draws.static else ["trial", "time"]
    coords: dict[str, Any] = {"trial": np.arange(b)}
    if t is not None:
        coords["time"] = np.arange(t)
    groups: dict[str, dict[str, np.ndarray]] = {
        k: {}
        for k in (
            "posterior",
            "posterior_predictive",
            "log_likelihood",
            "observed_data",
            "sample_stats",
            "constant_data",
        )
    }
    dims: dict[str, dict[str, list[str]]] = {g: {} for g in groups}
    taken: dict[str, int] = {}
    for name, v in draws.latents.items():
        key = var_name(name)
        site_lead = lead if (t is not None and v.ndim >= 4 and v.shape[2] == t) else ["trial"]
        groups["posterior"][key] = v[None]
        dims["posterior"][key] = _latent_dims(key, v.shape[1:], site_lead, taken)
    for name, v in draws.deterministic.items():
        key = var_name(name)
        site_lead = lead if (t is not None and v.ndim >= 3 and v.shape[2] == t) else ["trial"]
        groups["posterior"][key] = v[None]
        dims["posterior"][key] = [
            *site_lead,
            *(f"{key}_dim_{i}" for i in range(v.ndim - 1 - len(site_lead))),
        ]
    for name, v in draws.global_latents.items():
        key = var_name(name)
        groups["posterior"][key] = v[None]
        dims["posterior"][key] = [f"{key}_dim_{i}" for i in range(v.ndim - 1)]
    for m in draws.modalities:
        if m + FULL in draws.modalities:
            raise ValueError(
                f"modalities {m!r} and {m + FULL!r} would share the variable {m + FULL!r} of "
                "posterior.nc; rename one"
            )
        obs = draws.observed[m]
        feat = _feature_dims(m, obs.ndim - len(lead))
        ll = draws.trial_log_lik(m)
        groups["log_likelihood"][m] = ll[None]
        dims["log_likelihood"][m] = ["trial"]
        groups["sample_stats"][f"log_ratio_{m}"] = (ll + draws.log_prior - draws.log_q)[None]
        dims["sample_stats"][f"log_ratio_{m}"] = ["trial"]
        groups["observed_data"][m] = _trial_mean(obs, obs, 1)
        dims["observed_data"][m] = ["trial"]
        groups["observed_data"][m + FULL] = obs
        dims["observed_data"][m + FULL] = [*lead, *feat]
        if m in draws.predictive:
            pp = draws.predictive[m]
            groups["posterior_predictive"][m] = _trial_mean(pp, obs, 1)[None]
            dims["posterior_predictive"][m] = ["trial"]
            groups["posterior_predictive"][m + FULL] = pp[None]
            dims["posterior_predictive"][m + FULL] = [*lead, *feat]
    for key, v in (
        ("log_weight", draws.log_weights),
        ("log_prior", draws.log_prior),
        ("log_q", draws.log_q),
    ):
        groups["sample_stats"][key] = v[None]
        dims["sample_stats"][key] = ["trial"]
    if draws.times is not None:
        groups["constant_data"]["times"] = np.asarray(draws.times, dtype=np.float64)
        dims["constant_data"]["times"] = ["trial", "time"]
    return groups, dims, coords


def trial_labels(draws: PosteriorDraws) -> dict[str, tuple[str, np.ndarray]]:
    """Coordinates along ``trial``: ``source_trial`` and, for windows, ``start``."""
    b = draws.num_trials
    src = np.arange(b) if draws.source_trial is None else np.asarray(draws.source_trial)
    labels = {"source_trial": ("trial", src.astype(np.int64))}
    if draws.source_start is not None:
        labels["start"] = ("trial", np.asarray(draws.source_start).astype(np.int64))
    return labels


def draws_to_inference_data(draws: PosteriorDraws) -> Any:
    """ArviZ container (``InferenceData`` on 0.x, ``DataTree`` on 1.x) of existing draws."""
    groups, dims, coords = draws_to_groups(draws)
    return arviz_adapter.build(groups, dims, coords, labels=trial_labels(draws), attrs=ATTRS)


def to_inference_data(
    model: GenerativeModel,
    data: MultimodalDataset | MultimodalBatch,
    num_samples: int = 100,
    *,
    num_trials: int | None = 64,
    window: int | None = None,
) -> Any:
    """Posterior, posterior predictive, log-likelihood, observed data and sample stats.

    Args:
        model: a fitted model.
        data: the trials to diagnose (a dataset's windows act as trials for a long recording).
        num_samples: guide draws per trial (S >= 1).
        num_trials: diagnose at most this many trials (evenly spaced); None for all.
        window: cut trials into windows of this length first.

    Returns:
        ``arviz.InferenceData`` (ArviZ 0.x) or ``xarray.DataTree`` (ArviZ 1.x) with the groups
        and dims of the module docstring.
    """
    batch = select_trials(data, num_trials, window=window)
    return draws_to_inference_data(draw_posterior(model, batch, num_samples))


def write_posterior(data: Any, path: str | os.PathLike) -> None:
    """Writes the ArviZ container to netCDF (``posterior.nc``)."""
    arviz_adapter.to_netcdf(data, path)

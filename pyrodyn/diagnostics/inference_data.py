"""Posterior draws of a fitted model as ArviZ data (``InferenceData`` or ``DataTree``).

Groups and dims (one chain: guide draws are i.i.d.):

* ``posterior``: every latent site of the guide ``(chain, draw, trial, time, latent)`` (sites
  with another shape, e.g. Fourier coefficients, get ``<site>_dim_<i>`` dims), the model's
  ``pyro.deterministic`` sites, and global random parameters ``(chain, draw, ...)``;
* ``posterior_predictive``: one variable per modality ``(chain, draw, trial, time,
  <modality>_feature)``;
* ``log_likelihood``: pointwise ``log p(x_m | z)`` per modality ``(chain, draw, trial, time)``
  (missing entries contribute 0);
* ``observed_data``: the observations ``(trial, time, <modality>_feature)``, NaN where missing;
* ``sample_stats``: ``log_weight`` = ``log p(x, z) - log q(z | x)``, ``log_prior``, ``log_q``,
  each ``(chain, draw, trial)``;
* ``constant_data``: ``times`` ``(trial, time)`` and ``source_trial`` ``(trial,)``.

Static data has no ``time`` dim. Site names are sanitised (:func:`var_name`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics import arviz_adapter
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
        feat = _feature_dims(m, draws.observed[m].ndim - len(lead))
        groups["log_likelihood"][m] = draws.log_lik[m][None]
        dims["log_likelihood"][m] = list(lead)
        groups["observed_data"][m] = draws.observed[m]
        dims["observed_data"][m] = [*lead, *feat]
        if m in draws.predictive:
            groups["posterior_predictive"][m] = draws.predictive[m][None]
            dims["posterior_predictive"][m] = [*lead, *feat]
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
    if draws.source_trial is not None:
        groups["constant_data"]["source_trial"] = np.asarray(draws.source_trial)
        dims["constant_data"]["source_trial"] = ["trial"]
    return groups, dims, coords


def draws_to_inference_data(draws: PosteriorDraws) -> Any:
    """ArviZ container (``InferenceData`` on 0.x, ``DataTree`` on 1.x) of existing draws."""
    groups, dims, coords = draws_to_groups(draws)
    return arviz_adapter.build(groups, dims, coords)


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

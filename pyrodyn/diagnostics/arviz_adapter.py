"""The only module of pyrodyn that imports ArviZ; it hides the 0.x / 1.x API split.

ArviZ 0.x (0.23 on Python 3.11) builds an ``InferenceData`` with keyword groups,
``az.from_dict(posterior=..., log_likelihood=..., dims=...)``. ArviZ 1.x (Python >= 3.12) builds
an ``xarray.DataTree`` from one nested dict, ``az.from_dict({"posterior": {...}, ...},
sample_dims=..., dims=..., coords=...)``, and has no Pyro converter. Both take arrays shaped
``(chain, draw, ...)``; groups whose name contains ``"data"`` get no sample dims.

Callers hand this module a neutral description: ``{group: {var: array}}`` plus per-group dims
``{group: {var: [dim, ...]}}`` (without the sample dims) and coords.

pyrodyn targets ArviZ 0.x (``pyproject.toml`` pins ``arviz<1``): Pareto-smoothed importance
sampling (:func:`psislw`) and PSIS-LOO (:func:`psis_loo`) are ArviZ's own, called here, so the
numbers pyrodyn reports are the ones ``az.loo`` gives on ``posterior.nc``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np


def _import_arviz() -> Any:
    with warnings.catch_warnings():
        # ArviZ 0.2x announces its 1.x refactor with a FutureWarning on import
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def arviz_module() -> Any:
    """The installed ``arviz`` module (imported quietly)."""
    return _import_arviz()


def arviz_major(az: Any | None = None) -> int:
    """Major version of the installed (or given) ArviZ."""
    az = _import_arviz() if az is None else az
    return int(str(az.__version__).split(".")[0])


Groups = Mapping[str, Mapping[str, np.ndarray]]
GroupDims = Mapping[str, Mapping[str, list[str]]]


def build(
    groups: Groups,
    dims: GroupDims,
    coords: Mapping[str, Any] | None = None,
    *,
    labels: Mapping[str, tuple[str, np.ndarray]] | None = None,
    attrs: Mapping[str, Mapping[str, str]] | None = None,
    az: Any | None = None,
) -> Any:
    """Builds ArviZ's container for the installed version.

    Args:
        groups: group -> variable -> array; sampled groups are ``(chain, draw, ...)``.
        dims: group -> variable -> dim names after the sample dims.
        coords: dim -> coordinate values.
        labels: non-index coordinates, name -> ``(dim, values)``, added to every group with
            that dim (e.g. the source trial and start step of each window along ``trial``).
        attrs: group -> attributes (strings) describing it.
        az: the arviz module to use (tests pass a stand-in for the 1.x branch).

    Returns:
        ``arviz.InferenceData`` on ArviZ 0.x, ``xarray.DataTree`` on ArviZ 1.x.
    """
    az = _import_arviz() if az is None else az
    groups = {g: dict(v) for g, v in groups.items() if v}
    coords = dict(coords or {})
    if arviz_major(az) >= 1:
        data = _build_v1(az, groups, dims, coords)
    else:
        data = _build_v0(az, groups, dims, coords)
    if labels or attrs:
        _label(data, list(groups), dict(labels or {}), dict(attrs or {}))
    return data


def _label(data: Any, names: list[str], labels: dict, attrs: dict) -> None:
    for g in names:
        ds = group(data, g)
        extra = {k: (d, np.asarray(v)) for k, (d, v) in labels.items() if d in ds.dims}
        if extra:
            ds = ds.assign_coords(extra)
        ds.attrs.update({str(k): str(v) for k, v in attrs.get(g, {}).items()})
        if hasattr(data, "children"):
            data[g] = ds
        else:
            setattr(data, g, ds)


def _build_v0(az: Any, groups: dict, dims: GroupDims, coords: dict) -> Any:
    # 0.x takes one dims mapping for every group; groups are built one call each so that a
    # variable name (a modality) can carry different dims in different groups
    first, *rest = list(groups)
    idata = az.from_dict(**{first: groups[first]}, dims=dict(dims.get(first, {})), coords=coords)
    for g in rest:
        part = az.from_dict(**{g: groups[g]}, dims=dict(dims.get(g, {})), coords=coords)
        idata.extend(part)
    return idata


def _build_v1(az: Any, groups: dict, dims: GroupDims, coords: dict) -> Any:
    # 1.x: one nested dict -> DataTree; per-group calls for the same dims reason as above
    first, *rest = list(groups)
    tree = az.from_dict(
        {first: groups[first]},
        sample_dims=["chain", "draw"],
        dims=dict(dims.get(first, {})),
        coords=coords,
    )
    for g in rest:
        part = az.from_dict(
            {g: groups[g]},
            sample_dims=["chain", "draw"],
            dims=dict(dims.get(g, {})),
            coords=coords,
        )
        tree[g] = part[g]
    return tree


def group_names(data: Any) -> list[str]:
    """Names of the groups of an ``InferenceData`` or ``DataTree``."""
    if hasattr(data, "groups") and callable(data.groups):
        return [g.lstrip("/") for g in data.groups() if g.strip("/")]
    return [str(k) for k in data.children]


def group(data: Any, name: str) -> Any:
    """One group as an ``xarray.Dataset``."""
    if hasattr(data, "children"):
        return data[name].to_dataset()
    return getattr(data, name)


def to_netcdf(data: Any, path: str | os.PathLike) -> None:
    """Writes an ``InferenceData`` / ``DataTree`` to a netCDF file."""
    data.to_netcdf(os.fspath(path))


def from_netcdf(path: str | os.PathLike, *, az: Any | None = None) -> Any:
    """Reads a file written by :func:`to_netcdf` with the installed ArviZ."""
    az = _import_arviz() if az is None else az
    if not os.path.exists(path):
        raise FileNotFoundError(f"no netCDF file at {os.fspath(path)!r}")
    return az.from_netcdf(os.fspath(path))


def _require_v0(az: Any, what: str) -> None:
    if arviz_major(az) >= 1:
        raise RuntimeError(
            f"{what} targets ArviZ 0.x (pyproject pins arviz>=0.17,<1); the installed ArviZ is "
            f"{az.__version__}: install 'arviz<1'"
        )


def psislw(log_ratios: np.ndarray, *, az: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ArviZ's Pareto-smoothed importance sampling (``az.psislw``) along the last axis.

    The draws are taken as independent (relative efficiency 1), as guide draws are.

    Args:
        log_ratios: ``(..., S)`` finite or ``-inf`` log importance ratios.
        az: the arviz module to use.

    Returns:
        ``(log_weights, khat)``: ``(..., S)`` smoothed log weights normalised to log-sum-exp 0
        and ``(...)`` Pareto shape estimates (``inf`` where the tail has fewer than 5 draws).
    """
    az = _import_arviz() if az is None else az
    _require_v0(az, "psislw")
    lr = np.array(log_ratios, dtype=np.float64)
    # a huge fitted shape overflows the tail's quantiles; ArviZ truncates them at the largest
    # raw weight, so the overflow is harmless
    with np.errstate(over="ignore"):
        lw, khat = az.psislw(lr, reff=1.0)
    return np.asarray(lw, dtype=np.float64), np.asarray(khat, dtype=np.float64)


def psis_loo(log_lik: np.ndarray, *, az: Any | None = None) -> dict[str, Any]:
    """ArviZ's PSIS-LOO (``az.loo``) of ``(S, N)`` log-likelihoods of ``N`` observations.

    The same call ``az.loo(data, var_name=..., pointwise=True)`` makes on a file with one chain of
    ``S`` independent draws (relative efficiency 1).

    Returns:
        ``elpd_i`` and ``khat`` ``(N,)``, and ArviZ's ``elpd``, ``se``, ``p_loo`` and ``good_k``
        (its k-hat threshold for ``S`` draws).
    """
    az = _import_arviz() if az is None else az
    _require_v0(az, "psis_loo")
    ll = np.asarray(log_lik, dtype=np.float64)
    if ll.ndim != 2:
        raise ValueError(f"log_lik must be (draws, observations), got shape {ll.shape}")
    data = az.from_dict(log_likelihood={"ll": ll[None]}, dims={"ll": ["observation"]})
    with warnings.catch_warnings():
        # ArviZ warns on high k-hat; pyrodyn reports k-hat per observation instead
        warnings.simplefilter("ignore", UserWarning)
        res = az.loo(data, var_name="ll", pointwise=True, reff=1.0)
    return {
        "elpd_i": np.asarray(res["loo_i"], dtype=np.float64).ravel(),
        "khat": np.asarray(res["pareto_k"], dtype=np.float64).ravel(),
        "elpd": float(res["elpd_loo"]),
        "se": float(res["se"]),
        "p_loo": float(res["p_loo"]),
        "good_k": float(res["good_k"]),
    }


def loo(data: Any, var_name: str, *, az: Any | None = None) -> Any:
    """``az.loo`` of one log-likelihood variable (e.g. one modality).

    Both ArviZ versions need ``var_name`` when there are several; ArviZ's Pareto-k warnings are
    left to the caller.
    """
    az = _import_arviz() if az is None else az
    return az.loo(data, var_name=var_name, pointwise=True)

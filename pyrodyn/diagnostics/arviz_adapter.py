"""The only module of pyrodyn that imports ArviZ; it hides the 0.x / 1.x API split.

ArviZ 0.x (0.23 on Python 3.11) builds an ``InferenceData`` with keyword groups,
``az.from_dict(posterior=..., log_likelihood=..., dims=...)``. ArviZ 1.x (Python >= 3.12) builds
an ``xarray.DataTree`` from one nested dict, ``az.from_dict({"posterior": {...}, ...},
sample_dims=..., dims=..., coords=...)``, and has no Pyro converter. Both take arrays shaped
``(chain, draw, ...)``; groups whose name contains ``"data"`` get no sample dims.

Callers hand this module a neutral description: ``{group: {var: array}}`` plus per-group dims
``{group: {var: [dim, ...]}}`` (without the sample dims) and coords.
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
    az: Any | None = None,
) -> Any:
    """Builds ArviZ's container for the installed version.

    Args:
        groups: group -> variable -> array; sampled groups are ``(chain, draw, ...)``.
        dims: group -> variable -> dim names after the sample dims.
        coords: dim -> coordinate values.
        az: the arviz module to use (tests pass a stand-in for the 1.x branch).

    Returns:
        ``arviz.InferenceData`` on ArviZ 0.x, ``xarray.DataTree`` on ArviZ 1.x.
    """
    az = _import_arviz() if az is None else az
    groups = {g: dict(v) for g, v in groups.items() if v}
    coords = dict(coords or {})
    if arviz_major(az) >= 1:
        return _build_v1(az, groups, dims, coords)
    return _build_v0(az, groups, dims, coords)


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


def loo(data: Any, var_name: str, *, az: Any | None = None) -> Any:
    """``az.loo`` of one log-likelihood variable (e.g. one modality).

    Both ArviZ versions need ``var_name`` when there are several; ArviZ's Pareto-k warnings are
    left to the caller.
    """
    az = _import_arviz() if az is None else az
    return az.loo(data, var_name=var_name, pointwise=True)

"""What a site of a Pyro trace is, read the same way by every diagnostic.

Latent or observed, deterministic, inside the ``"sequences"`` plate or global, which modality an
observe site belongs to, and what kind of values its distribution has.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pyro.distributions import constraints
from pyro.poutine.util import site_is_subsample

SEQUENCE_PLATE = "sequences"


def _in_plate(site: Mapping) -> bool:
    return any(f.name == SEQUENCE_PLATE for f in site["cond_indep_stack"])


def _is_deterministic(site: Mapping) -> bool:
    return bool(site.get("infer", {}).get("_deterministic", False))


def _is_latent(site: Mapping) -> bool:
    """A sampled (not observed, not deterministic, not a plate's subsample) site."""
    return (
        site["type"] == "sample"
        and not site["is_observed"]
        and not _is_deterministic(site)
        and not site_is_subsample(site)
    )


def _support_kind(fn: torch.distributions.Distribution) -> str:
    sup = fn.support
    while hasattr(sup, "base_constraint"):
        sup = sup.base_constraint
    if sup is constraints.one_hot or type(sup).__name__ == "_OneHot":
        return "onehot"
    if not getattr(sup, "is_discrete", False):
        return "continuous"
    if isinstance(sup, (constraints.integer_interval, type(constraints.boolean))):
        return "categorical"
    return "count"


def _modality_of(name: str, modalities: list[str]) -> str | None:
    for m in modalities:
        if name == f"likelihoods.{m}.obs" or name.endswith(f".{m}.obs") or name == m:
            return m
    return None


__all__ = [
    "SEQUENCE_PLATE",
    "_in_plate",
    "_is_deterministic",
    "_is_latent",
    "_modality_of",
    "_support_kind",
]

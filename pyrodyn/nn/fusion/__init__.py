"""Fusion rules combining per-modality posteriors (the "aggregators")."""

from pyrodyn.nn.fusion.base import SHARED, Fusion, broadcast_present
from pyrodyn.nn.fusion.independent import Independent
from pyrodyn.nn.fusion.mean import Mean
from pyrodyn.nn.fusion.mmvm import MMVM
from pyrodyn.nn.fusion.moe import MixtureOfExperts
from pyrodyn.nn.fusion.mopoe import MixtureOfProductsOfExperts
from pyrodyn.nn.fusion.poe import ProductOfExperts

__all__ = [
    "MMVM",
    "SHARED",
    "Fusion",
    "Independent",
    "Mean",
    "MixtureOfExperts",
    "MixtureOfProductsOfExperts",
    "ProductOfExperts",
    "broadcast_present",
]

"""Fusion rules combining per-modality posteriors (the "aggregators")."""

from pyrodyn.nn.fusion.base import SHARED, Fusion, broadcast_present
from pyrodyn.nn.fusion.mean import Mean
from pyrodyn.nn.fusion.poe import ProductOfExperts

__all__ = ["SHARED", "Fusion", "Mean", "ProductOfExperts", "broadcast_present"]

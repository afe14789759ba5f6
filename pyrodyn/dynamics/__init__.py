"""Latent dynamics: the `DynamicsModel` base, the PLRNN family, teacher forcing, query dynamics."""

from pyrodyn.dynamics.base import DynamicsModel, LinearDynamics
from pyrodyn.dynamics.forcing import (
    AdaptiveForcingAlpha,
    generalized_forcing_rollout,
    jacobian_growth,
    sparse_forcing_rollout,
    suggest_forcing_interval,
)
from pyrodyn.dynamics.plrnn import (
    PLRNN,
    ClippedDendPLRNN,
    ClippedShallowPLRNN,
    DendPLRNN,
    ShallowPLRNN,
)
from pyrodyn.dynamics.query import QueryDynamics, SinusoidalTimeEncoding

__all__ = [
    "PLRNN",
    "AdaptiveForcingAlpha",
    "ClippedDendPLRNN",
    "ClippedShallowPLRNN",
    "DendPLRNN",
    "DynamicsModel",
    "LinearDynamics",
    "QueryDynamics",
    "ShallowPLRNN",
    "SinusoidalTimeEncoding",
    "generalized_forcing_rollout",
    "jacobian_growth",
    "sparse_forcing_rollout",
    "suggest_forcing_interval",
]

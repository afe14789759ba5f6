"""Latent dynamics: the `DynamicsModel` base, the PLRNN family and teacher forcing."""

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

__all__ = [
    "PLRNN",
    "AdaptiveForcingAlpha",
    "ClippedDendPLRNN",
    "ClippedShallowPLRNN",
    "DendPLRNN",
    "DynamicsModel",
    "LinearDynamics",
    "ShallowPLRNN",
    "generalized_forcing_rollout",
    "jacobian_growth",
    "sparse_forcing_rollout",
    "suggest_forcing_interval",
]

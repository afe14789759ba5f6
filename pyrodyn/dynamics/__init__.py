"""Latent dynamics: the `DynamicsModel` base and its implementations."""

from pyrodyn.dynamics.base import DynamicsModel, LinearDynamics

__all__ = ["DynamicsModel", "LinearDynamics"]

"""Benchmark dynamical systems given by their vector fields (integrated with scipy)."""

from pyrodyn.data.systems.base import DynamicalSystem
from pyrodyn.data.systems.dysts_adapter import DystsSystem
from pyrodyn.data.systems.lorenz63 import Lorenz63
from pyrodyn.data.systems.lorenz96 import Lorenz96
from pyrodyn.data.systems.rossler import Rossler

__all__ = ["DynamicalSystem", "DystsSystem", "Lorenz63", "Lorenz96", "Rossler"]

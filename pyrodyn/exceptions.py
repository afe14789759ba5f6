"""Warning and error classes raised by pyrodyn."""

from __future__ import annotations


class PyrodynWarning(UserWarning):
    """Base class of the warnings pyrodyn emits (filter them precisely with this class)."""


class NumericsWarning(PyrodynWarning):
    """A numerical problem was detected and handled (e.g. a rolled-back non-finite step)."""


class ShapeError(ValueError):
    """An array or tensor does not have the shape a function documents."""


class NonFiniteLossError(RuntimeError):
    """Training produced a non-finite loss that a rollback could not cure."""


class ConfigError(ValueError):
    """A run configuration is invalid (unknown key, missing value, wrong type)."""

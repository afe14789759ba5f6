"""Warning and error classes raised by pyrodyn.

Every error pyrodyn raises on purpose derives from :class:`PyrodynError`; the ones a caller
would naturally catch as a built-in (a bad value, a bad shape) also derive from that built-in, so
``except ValueError`` keeps working.
"""

from __future__ import annotations


class PyrodynWarning(UserWarning):
    """Base class of the warnings pyrodyn emits (filter them precisely with this class)."""


class NumericsWarning(PyrodynWarning):
    """A numerical problem was detected and handled (e.g. a rolled-back non-finite step)."""


class PyrodynError(Exception):
    """Base class of the errors pyrodyn raises on purpose (their message names the input)."""


class ShapeError(PyrodynError, ValueError):
    """An array or tensor does not have the shape a function documents."""


class NonFiniteLossError(PyrodynError, RuntimeError):
    """Training produced a non-finite loss that a rollback could not cure."""


class ConfigError(PyrodynError, ValueError):
    """A run configuration is invalid (unknown key, missing value, wrong type)."""


class UntrustedCodeError(PyrodynError, ValueError):
    """A configuration names code that may not be imported or called here.

    Raised when a run directory's ``config.yaml`` names a module outside pyrodyn, torch and
    gpytorch that the user did not trust, or a ``type`` that is not a class of the component
    category it is used as.
    """


class DataError(PyrodynError, ValueError):
    """Data are invalid: a bad value (NaN time stamp, fractional length), file or array key."""


class DataTypeError(DataError, TypeError):
    """An array or tensor has a dtype the data contract refuses (non-numeric, complex)."""

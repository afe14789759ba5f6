"""Conformance kits: pytest mixins that check an implementation of an extension point.

Each kit lives in its own module (``pyrodyn.testing.likelihood``, ``.dynamics``, ``.encoder``,
``.model``) and imports pytest, so nothing here is imported eagerly: ``import pyrodyn`` never
needs pytest. ``from pyrodyn.testing import LikelihoodConformance`` loads the kit on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"LikelihoodConformance": "pyrodyn.testing.likelihood"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pyrodyn.testing' has no attribute {name!r}")


__all__ = ["LikelihoodConformance"]

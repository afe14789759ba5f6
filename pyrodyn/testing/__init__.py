"""Conformance kits: pytest mixins that check an implementation of an extension point.

Each kit lives in its own module (``pyrodyn.testing.likelihood``, ``.dynamics``, ``.encoder``,
``.model``) and imports pytest, so nothing here is imported eagerly: ``import pyrodyn`` never
needs pytest. ``from pyrodyn.testing import LikelihoodConformance`` loads the kit on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "DynamicsConformance": "pyrodyn.testing.dynamics",
    "EncoderConformance": "pyrodyn.testing.encoder",
    "FusionConformance": "pyrodyn.testing.fusion",
    "LikelihoodConformance": "pyrodyn.testing.likelihood",
    "PriorConformance": "pyrodyn.testing.prior",
    "check_model_guide": "pyrodyn.testing.model",
    "check_svi_step": "pyrodyn.testing.model",
    "lgssm_svae": "pyrodyn.testing.lgssm",
    "svae_to_lgssm": "pyrodyn.testing.lgssm",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pyrodyn.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)

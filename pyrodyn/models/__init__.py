"""Composed generative models.

``GenerativeModel`` and ``SVAE`` are imported eagerly; every other model class of this package
(``MTF``, ``MMGPVAE``, ...) is found on first access, so a model module is imported only when
used.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.svae import SVAE

__all__ = ["SVAE", "GenerativeModel"]


def __getattr__(name: str) -> Any:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        obj = getattr(module, name, None)
        if isinstance(obj, type) and issubclass(obj, GenerativeModel):
            return obj
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""pyrodyn: multimodal generative models of dynamical systems on Pyro + PyTorch.

Importing pyrodyn changes no global Pyro setting. Models are Pyro model/guide pairs that Pyro's
own tools (``SVI``, ``Predictive``, AutoGuides) run under Pyro's default settings; pyrodyn's own
entry points (``fit``, ``encode``, ``generate``, ...) keep parameters module-local while they run.

``pyrodyn.load_run(RUN_DIR)`` opens a run directory written by ``pyrodyn fit`` (imported on first
use, so ``import pyrodyn`` stays light).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import PyrodynError, PyrodynWarning, ShapeError

if TYPE_CHECKING:
    from pyrodyn.app.rundir import Run, load_run

__version__ = "0.1.0.dev0"

#: Attributes imported on first access: name -> module.
_LAZY = {"load_run": "pyrodyn.app.rundir", "Run": "pyrodyn.app.rundir"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pyrodyn' has no attribute {name!r}")


__all__ = [
    "MultimodalBatch",
    "MultimodalDataset",
    "PyrodynError",
    "PyrodynWarning",
    "Run",
    "ShapeError",
    "__version__",
    "load_run",
]

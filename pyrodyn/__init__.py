"""pyrodyn: multimodal generative models of dynamical systems on Pyro + PyTorch.

Importing pyrodyn changes no global Pyro setting. Models are Pyro model/guide pairs that Pyro's
own tools (``SVI``, ``Predictive``, AutoGuides) run under Pyro's default settings; pyrodyn's own
entry points (``fit``, ``encode``, ``generate``, ...) keep parameters module-local while they run.
"""

from __future__ import annotations

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import PyrodynWarning, ShapeError

__version__ = "0.1.0.dev0"

__all__ = [
    "MultimodalBatch",
    "MultimodalDataset",
    "PyrodynWarning",
    "ShapeError",
    "__version__",
]

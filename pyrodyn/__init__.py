"""pyrodyn: multimodal generative models of dynamical systems on Pyro + PyTorch.

Importing pyrodyn turns on Pyro's ``module_local_params`` setting. Pyro reads it when a
``PyroModule`` is constructed, so it must be on before any model is built; with it on, every
parameter lives in its module (never in Pyro's global param store) and two models in one process
never share parameters by site name.
"""

from __future__ import annotations

import pyro

pyro.settings.set(module_local_params=True)

from pyrodyn.data.batch import MultimodalBatch  # noqa: E402
from pyrodyn.data.dataset import MultimodalDataset  # noqa: E402
from pyrodyn.exceptions import PyrodynWarning, ShapeError  # noqa: E402

__version__ = "0.1.0.dev0"

__all__ = [
    "MultimodalBatch",
    "MultimodalDataset",
    "PyrodynWarning",
    "ShapeError",
    "__version__",
]

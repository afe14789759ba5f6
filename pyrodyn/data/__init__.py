"""Data layer: multimodal batches, datasets and loaders, benchmark systems, observation models."""

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.data.standardizer import Standardizer

__all__ = ["MultimodalBatch", "MultimodalDataset", "Standardizer"]

"""Data layer: the multimodal batch, datasets and loaders, benchmark systems and observation models."""

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset, Standardizer

__all__ = ["MultimodalBatch", "MultimodalDataset", "Standardizer"]

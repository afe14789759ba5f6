"""Encoders: observations -> diagonal-Gaussian posteriors over latents."""

from pyrodyn.nn.encoders.base import Encoder

__all__ = ["Encoder"]

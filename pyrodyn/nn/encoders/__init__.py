"""Encoders: observations -> diagonal-Gaussian posteriors over latents."""

from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder, concat_observations

__all__ = ["Encoder", "TemporalConvEncoder", "concat_observations"]

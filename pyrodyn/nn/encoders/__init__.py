"""Encoders: observations -> diagonal-Gaussian posteriors over latents."""

from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer, aggregate_tokens
from pyrodyn.nn.encoders.frame import FrameCNN, FrameMLP
from pyrodyn.nn.encoders.sequence_pool import SequencePoolEncoder
from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
from pyrodyn.nn.encoders.step_mlp import StepMLPEncoder
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder, concat_observations

__all__ = [
    "ContinuousTimeTransformer",
    "Encoder",
    "FrameCNN",
    "FrameMLP",
    "SequencePoolEncoder",
    "StaticMLPEncoder",
    "StepMLPEncoder",
    "TemporalConvEncoder",
    "aggregate_tokens",
    "concat_observations",
]

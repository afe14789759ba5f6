"""Distributions Pyro lacks (one per file); all are Pyro ``TorchDistribution`` subclasses."""

from pyrodyn.distributions.cumulative_logit import CumulativeLogit, log1mexp
from pyrodyn.distributions.poisson_log_rate import PoissonLogRate

__all__ = ["CumulativeLogit", "PoissonLogRate", "log1mexp"]

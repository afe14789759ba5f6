"""Distributions Pyro lacks (one per file); all are Pyro ``TorchDistribution`` subclasses."""

from pyrodyn.distributions.cumulative_logit import CumulativeLogit, log1mexp
from pyrodyn.distributions.diag_normal_mixture import DiagNormalMixture
from pyrodyn.distributions.poisson_log_rate import PoissonLogRate

__all__ = ["CumulativeLogit", "DiagNormalMixture", "PoissonLogRate", "log1mexp"]

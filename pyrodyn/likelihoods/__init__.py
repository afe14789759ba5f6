"""Observation models, one per file; each is a :class:`Likelihood` subclass."""

from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.likelihoods.categorical import Categorical
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.likelihoods.ordinal import Ordinal
from pyrodyn.likelihoods.poisson import Poisson

__all__ = ["Categorical", "Gaussian", "Likelihood", "Ordinal", "Poisson"]

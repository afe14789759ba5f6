"""Observation models, one per file; each is a :class:`Likelihood` subclass."""

from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.likelihoods.bernoulli import Bernoulli
from pyrodyn.likelihoods.categorical import Categorical
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.likelihoods.laplace import Laplace
from pyrodyn.likelihoods.negative_binomial import NegativeBinomial
from pyrodyn.likelihoods.ordinal import Ordinal
from pyrodyn.likelihoods.poisson import Poisson
from pyrodyn.likelihoods.zero_inflated_poisson import ZeroInflatedPoisson

__all__ = [
    "Bernoulli",
    "Categorical",
    "Gaussian",
    "Laplace",
    "Likelihood",
    "NegativeBinomial",
    "Ordinal",
    "Poisson",
    "ZeroInflatedPoisson",
]

"""Observation models, one per file; each is a :class:`Likelihood` subclass.

=======================  =================================  =============================  =======
likelihood               decoder params (per step)          learned in the likelihood      predict
=======================  =================================  =============================  =======
``Gaussian``             ``loc`` (+ ``scale``, softplus)    diagonal ``scale`` (or fixed)  mean
``Laplace``              ``loc``                            ``scale`` if ``learn_scale``   mean
``Poisson``              ``log_rate``                       per-feature ``intercept``      mean
``NegativeBinomial``     ``log_mean``                       ``total_count``                mean
``ZeroInflatedPoisson``  ``log_rate`` (+ ``gate_logits``)   ``gate_logits``                mean
``Bernoulli``            ``logits``                         --                             mean
``Categorical``          ``logits`` ``(N, C)`` (``C - 1``)  --                             mode
``Ordinal``              ``eta`` ``(N,)``                   ordered ``thresholds``         mode
=======================  =================================  =============================  =======
"""

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

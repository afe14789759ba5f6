"""Latent priors: the `LatentPrior` base, i.i.d. normal, dynamical (Markov), OU, GP and MMVM."""

from pyrodyn.priors.base import LatentPrior, PriorContext
from pyrodyn.priors.dynamical import DynamicalPrior, MarkovTrajectory
from pyrodyn.priors.factorised import FactorisesOverSteps
from pyrodyn.priors.gp import DenseGPPrior, FourierGPPrior, spectral_density
from pyrodyn.priors.mixture import MMVMMixturePrior
from pyrodyn.priors.normal import StandardNormalPrior
from pyrodyn.priors.ou import OrnsteinUhlenbeckPrior

__all__ = [
    "DenseGPPrior",
    "DynamicalPrior",
    "FactorisesOverSteps",
    "FourierGPPrior",
    "LatentPrior",
    "MMVMMixturePrior",
    "MarkovTrajectory",
    "OrnsteinUhlenbeckPrior",
    "PriorContext",
    "StandardNormalPrior",
    "spectral_density",
]

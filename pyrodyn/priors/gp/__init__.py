"""Gaussian-process priors: Fourier-domain (any stationary GPyTorch kernel) and dense reference."""

from pyrodyn.priors.gp.basis import MATMUL_MAX_STEPS, FourierBasis
from pyrodyn.priors.gp.dense import DenseGPPrior
from pyrodyn.priors.gp.fourier import FourierGPPrior
from pyrodyn.priors.gp.spectral import (
    NoClosedFormError,
    check_stationary,
    circulant_eigenvalues,
    has_closed_form,
    spectral_density,
)

__all__ = [
    "MATMUL_MAX_STEPS",
    "DenseGPPrior",
    "FourierBasis",
    "FourierGPPrior",
    "NoClosedFormError",
    "check_stationary",
    "circulant_eigenvalues",
    "has_closed_form",
    "spectral_density",
]

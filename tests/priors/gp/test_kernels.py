"""The kernel helpers shared by the GP priors."""

import pytest
import torch
from gpytorch.kernels import LinearKernel, MaternKernel, RBFKernel, ScaleKernel

from pyrodyn.priors.gp.kernels import kernel_latent_dim, set_lengthscale


def test_set_lengthscale_accepts_any_positive_value_and_refuses_the_rest():
    kernel = ScaleKernel(RBFKernel()) + MaternKernel(nu=1.5)
    set_lengthscale(kernel, 0.25)  # below 1 is a valid length-scale
    assert kernel.kernels[0].base_kernel.lengthscale.item() == pytest.approx(0.25)
    assert kernel.kernels[1].lengthscale.item() == pytest.approx(0.25)
    for bad in (0.0, -2.0, float("nan")):
        with pytest.raises(ValueError, match="lengthscale must be positive"):
            set_lengthscale(RBFKernel(), bad)


def test_set_lengthscale_refuses_a_kernel_without_one():
    kernel = ScaleKernel(LinearKernel())
    with pytest.raises(ValueError, match="ScaleKernel has no length-scale"):
        set_lengthscale(kernel, 2.0)


def test_kernel_batch_must_be_one_dimensional():
    with pytest.raises(ValueError, match=r"kernel batch_shape must be \(\) or \(latent_dim,\)"):
        kernel_latent_dim(RBFKernel(batch_shape=torch.Size([2, 3])), None)
    assert kernel_latent_dim(RBFKernel(batch_shape=torch.Size([3])), None) == 3
    assert kernel_latent_dim(RBFKernel(), None) == 1

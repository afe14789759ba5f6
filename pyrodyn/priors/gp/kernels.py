"""Helpers on GPyTorch kernels used by the GP priors: latent sizes and length-scales."""

from __future__ import annotations

import warnings

from gpytorch.kernels import Kernel


def kernel_latent_dim(kernel: Kernel, latent_dim: int | None) -> int:
    """D implied by a kernel's ``batch_shape`` (``()``: shared, ``(D,)``: one GP per latent)."""
    shape = tuple(kernel.batch_shape)
    if len(shape) > 1:
        raise ValueError(
            f"kernel batch_shape must be () or (latent_dim,), got {shape}; one kernel batch "
            "entry per latent dimension"
        )
    if shape:
        if latent_dim is not None and int(latent_dim) != shape[0]:
            raise ValueError(
                f"latent_dim={latent_dim} does not match the kernel's batch_shape {shape}; "
                "a batched kernel gives one GP per latent dimension"
            )
        return shape[0]
    return 1 if latent_dim is None else int(latent_dim)


def set_lengthscale(kernel: Kernel, value: float) -> None:
    """Sets the length-scale of every (sub-)kernel that has one.

    Raises:
        ValueError: ``value`` is not positive, or no part of the kernel has a length-scale.
    """
    if not value > 0:
        raise ValueError(f"lengthscale must be positive, got {value}")
    found = False
    for module in kernel.modules():
        if isinstance(module, Kernel) and module.has_lengthscale:
            module.lengthscale = float(value)
            found = True
    if not found:
        raise ValueError(f"kernel {type(kernel).__name__} has no length-scale to initialise")


def prior_arguments(
    cls_name: str, latent_dim: int | Kernel | None, kernel: Kernel | int | None
) -> tuple[int | None, Kernel]:
    """``(latent_dim, kernel)`` of a GP prior's constructor, in the order every prior shares.

    GP priors used to take ``(kernel, latent_dim)``; that order still works, with a
    :class:`FutureWarning`.

    Raises:
        TypeError: no kernel, or a kernel that is not a ``gpytorch.kernels.Kernel``.
    """
    if isinstance(latent_dim, Kernel) and not isinstance(kernel, Kernel):
        warnings.warn(
            f"{cls_name}(kernel, latent_dim) is the old argument order; write "
            f"{cls_name}(latent_dim, kernel) like every prior, or use keywords",
            FutureWarning,
            stacklevel=4,
        )
        latent_dim, kernel = kernel, latent_dim
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a gpytorch.kernels.Kernel, got {type(kernel).__name__}")
    return latent_dim, kernel


__all__ = ["kernel_latent_dim", "prior_arguments", "set_lengthscale"]

"""A Gaussian over a whole trajectory with backward Markov structure.

Over ``T`` steps of ``D`` dimensions (``t = 1..T``)::

    z_T = m_T + L_T e_T,
    z_t = m_t + J_t z_{t+1} + L_t e_t   (t < T),     e_t ~ N(0, I_D),

i.e. ``q(z_{1:T}) = q(z_T) prod_{t<T} q(z_t | z_{t+1})`` with Gaussian conditionals of mean
``m_t + J_t z_{t+1}`` and covariance ``L_t L_t^T``. This is the form of the exact posterior of a
linear-Gaussian state-space model (the Rauch-Tung-Striebel backward chain), and of the
structured inference network of Krishnan, Shalit and Sontag (AAAI 2017) run backwards. The joint
is one ``(T D)``-dimensional Gaussian whose precision has a block-bidiagonal Cholesky factor, so
sampling and the density cost ``O(T D^3)``.

Padding: with a ``(..., T)`` ``mask`` of valid steps (a prefix of each sequence), the coupling of
the last valid step to the first padding step is cut and the terms of padding steps are left out
of :meth:`MarkovGaussian.log_prob`, so the valid steps form the same chain as an unpadded
sequence of their length; padding steps are still drawn (from ``N(m_t, L_t L_t^T)``).
"""

from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution, constraints
from torch import Tensor

_LOG_2PI = math.log(2.0 * math.pi)


def _compact(x: Tensor, batch_dims: int) -> tuple[Tensor, int]:
    """``x`` without its leading broadcast dims, and how many there were.

    A distribution expanded over draws (a Pyro plate) holds stride-0 views of its factors; a
    batched product over them would copy the factor once per draw. Leading batch dims of size 1
    or stride 0 are indexed away so that the draws can ride along as extra columns instead.
    """
    k = 0
    while k < batch_dims and (x.shape[k] == 1 or x.stride(k) == 0):
        k += 1
    return x[(0,) * k], k


def _apply(mat: Tensor, vec: Tensor, solve: bool = False) -> Tensor:
    """``mat @ vec`` (or ``mat^{-1} vec``, ``mat`` lower-triangular) broadcast over batch dims.

    ``mat`` is ``(*m, D, D)``, ``vec`` ``(*v, D)``; leading batch dims in which ``mat`` is only
    broadcast become columns of one batched product (no copy of ``mat`` per draw).
    """
    d = vec.shape[-1]
    batch = torch.broadcast_shapes(mat.shape[:-2], vec.shape[:-1])
    core, k = _compact(mat.expand(*batch, d, d), len(batch))
    rest = batch[k:]
    # the column count is explicit: -1 is ambiguous when ``rest`` holds a 0 (T = 1: no coupling)
    cols = vec.expand(*batch, d).reshape(math.prod(batch[:k]), *rest, d)
    cols = cols.movedim(0, -1)  # (*rest, D, E)
    if solve:
        out = torch.linalg.solve_triangular(core, cols, upper=False)
    else:
        out = core @ cols
    return out.movedim(-1, 0).reshape(*batch, d)


class MarkovGaussian(TorchDistribution):
    """``q(z_T) prod_t q(z_t | z_{t+1})`` with Gaussian conditionals; event shape ``(T, D)``.

    Args:
        loc: ``(..., T, D)`` conditional mean offsets ``m_t``.
        scale_tril: ``(..., T, D, D)`` lower-triangular conditional scales ``L_t`` (positive
            diagonal).
        coupling: ``(..., T - 1, D, D)`` couplings ``J_t`` of step ``t`` to step ``t + 1``.
        mask: ``(..., T)`` bool of valid steps (a prefix per sequence), or None.
        validate_args: as for torch distributions.
    """

    arg_constraints = {
        "loc": constraints.independent(constraints.real, 2),
        "scale_tril": constraints.independent(constraints.lower_cholesky, 1),
        "coupling": constraints.independent(constraints.real, 3),
    }
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(
        self,
        loc: Tensor,
        scale_tril: Tensor,
        coupling: Tensor,
        mask: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if loc.dim() < 2:
            raise ValueError(f"loc must have shape (..., T, D), got {tuple(loc.shape)}")
        t, d = loc.shape[-2:]
        if scale_tril.shape[-3:] != (t, d, d):
            raise ValueError(
                f"scale_tril must have shape (..., T={t}, D={d}, D={d}), got "
                f"{tuple(scale_tril.shape)}"
            )
        if coupling.shape[-3:] != (t - 1, d, d):
            raise ValueError(
                f"coupling must have shape (..., T-1={t - 1}, D={d}, D={d}), got "
                f"{tuple(coupling.shape)}"
            )
        batch_shape = torch.broadcast_shapes(
            loc.shape[:-2], scale_tril.shape[:-3], coupling.shape[:-3]
        )
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool, device=loc.device)
            if mask.shape[-1:] != (t,):
                raise ValueError(f"mask must have shape (..., T={t}), got {tuple(mask.shape)}")
            if bool((mask[..., 1:] & ~mask[..., :-1]).any()):
                raise ValueError("mask must mark a prefix of each sequence (valid steps first)")
            batch_shape = torch.broadcast_shapes(batch_shape, mask.shape[:-1])
            # the last valid step of a padded sequence has no successor in the chain
            coupling = coupling * mask[..., 1:, None, None].to(coupling.dtype)
        self.loc, self.scale_tril, self.coupling, self.mask = loc, scale_tril, coupling, mask
        super().__init__(batch_shape, torch.Size((t, d)), validate_args=validate_args)

    @property
    def num_steps(self) -> int:
        """T."""
        return int(self.event_shape[0])

    def expand(self, batch_shape: torch.Size, _instance=None) -> MarkovGaussian:  # noqa: D102
        batch_shape = torch.Size(batch_shape)
        t, d = self.event_shape
        new = self._get_checked_instance(MarkovGaussian, _instance)
        # views only: the coupling is already cut at the padding, no re-masking (a copy per draw)
        new.loc = self.loc.expand(*batch_shape, t, d)
        new.scale_tril = self.scale_tril.expand(*batch_shape, t, d, d)
        new.coupling = self.coupling.expand(*batch_shape, t - 1, d, d)
        new.mask = None if self.mask is None else self.mask.expand(*batch_shape, t)
        super(MarkovGaussian, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _backward(self, noise: Tensor) -> Tensor:
        """``z`` from the innovations ``L_t e_t`` ``(..., T, D)`` by the backward recursion."""
        steps = [self.loc[..., -1, :] + noise[..., -1, :]]
        for t in range(self.num_steps - 2, -1, -1):
            drift = _apply(self.coupling[..., t, :, :], steps[-1])
            steps.append(self.loc[..., t, :] + drift + noise[..., t, :])
        return torch.stack(steps[::-1], -2)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Reparameterised draws ``(*sample_shape, *batch, T, D)``."""
        shape = self._extended_shape(sample_shape)
        eps = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        noise = _apply(self.scale_tril, eps)
        return self._backward(noise)

    def log_prob(self, value: Tensor) -> Tensor:
        """Exact log density ``(..., *batch)`` (padding steps left out)."""
        if self._validate_args:
            self._validate_sample(value)
        # against the full batch, not only loc's: the batch may come from another factor
        full = self.batch_shape + self.event_shape
        value = value.expand(torch.broadcast_shapes(value.shape, full))
        mean = self.loc.expand(value.shape)
        drift = _apply(self.coupling, value[..., 1:, :])
        mean = torch.cat([mean[..., :-1, :] + drift, mean[..., -1:, :]], -2)
        white = _apply(self.scale_tril, value - mean, solve=True)
        tril, _ = _compact(self.scale_tril, len(self.batch_shape))
        log_diag = tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        d = self.event_shape[1]
        step = -0.5 * white.pow(2).sum(-1) - log_diag - 0.5 * d * _LOG_2PI
        if self.mask is not None:
            step = step * self.mask.to(step.dtype)
        return step.sum(-1)

    @property
    def mean(self) -> Tensor:
        """``E z`` ``(*batch, T, D)`` (``mu_T = m_T``, ``mu_t = m_t + J_t mu_{t+1}``)."""
        return self._backward(
            torch.zeros_like(self.loc).expand(*self.batch_shape, *self.event_shape)
        )

    @property
    def variance(self) -> Tensor:
        """Marginal variances ``(*batch, T, D)`` by the backward covariance recursion."""
        cov = self.scale_tril @ self.scale_tril.transpose(-1, -2)
        covs = [cov[..., -1, :, :]]
        for t in range(self.num_steps - 2, -1, -1):
            j = self.coupling[..., t, :, :]
            covs.append(cov[..., t, :, :] + j @ covs[-1] @ j.transpose(-1, -2))
        var = torch.stack(covs[::-1], -3).diagonal(dim1=-2, dim2=-1)
        return var.expand(*self.batch_shape, *self.event_shape)

    def entropy(self) -> Tensor:
        """Exact entropy ``(*batch)`` (padding steps left out)."""
        d = self.event_shape[1]
        step = self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) + 0.5 * d * (1.0 + _LOG_2PI)
        step = step.expand(*self.batch_shape, self.num_steps)
        if self.mask is not None:
            step = step * self.mask.to(step.dtype)
        return step.sum(-1)


__all__ = ["MarkovGaussian"]

"""A shallow PLRNN fitted in closed form to one-step transitions, as reservoir computing does.

Reservoir computing trains only a linear read-out of fixed random features, by ridge regression
(Jaeger & Haas, Science 2004; Lukoševičius, 2012). The shallow PLRNN
``z' = A z + W_1 φ(W_2 z + h_2) + h_1`` (Hess et al., ICML 2023) has the same form once ``W_2``
and ``h_2`` are drawn at random: ``(a_i, W_1[i], h_1[i])`` solve one ridge regression per unit.
That gives gradient training a start whose free runs already follow the data's one-step map.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pyrodyn.dynamics.plrnn import ShallowPLRNN


def ridge_fit_shallow_plrnn(
    dynamics: ShallowPLRNN,
    z: Tensor,
    z_next: Tensor,
    *,
    units: int | None = None,
    ridge: float = 1e-2,
    scale: float = 1.0,
    max_abs_a: float = 0.99,
    linear_span: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sets a shallow PLRNN's weights to the ridge solution of ``z_next ≈ step(z)``.

    ``W_2[:, :units]`` and ``h_2`` are drawn from ``N(0, scale²)`` (the data should be roughly
    standardised); for each unit ``i < units``, ``(a_i, W_1[i], h_1[i])`` minimise
    ``Σ_t (z_next[t, i] − a_i z[t, i] − W_1[i] φ_t − h_1[i])² + ridge (a_i² + ‖W_1[i]‖²)``. If
    ``|a_i|`` exceeds ``max_abs_a`` (the clipped PLRNN's bounded-orbit condition is
    ``max|a| < 1``), ``a_i`` is set to ``±max_abs_a`` and the rest refitted. Units from ``units``
    on are switched off (``a = W_1 = h_1 = 0`` and zero ``W_2`` columns), free for training.

    ``A`` is diagonal, so random features alone approximate the cross terms of a linear map
    (in Lorenz-63, ``x' ≈ x + σ dt (y − x)``) only coarsely. With ``linear_span = s`` the first
    ``2 * units`` hidden units are pairs ``W_2 = ±e_j``, ``h_2 = s``: for the clipped PLRNN their
    difference is exactly ``z_j`` while ``|z_j| < s`` (``2 z_j`` for the plain ReLU), so the
    regression can fit a full linear map on the fitted units.

    Args:
        dynamics: a :class:`~pyrodyn.dynamics.plrnn.ShallowPLRNN` or its clipped variant,
            without inputs or mean-centring.
        z: ``(N, M)`` states (only the first ``units`` columns are read).
        z_next: ``(N, M)`` their successors.
        units: leading units fitted (default all M).
        ridge: the L2 penalty (>= 0).
        scale: sd of the random ``W_2`` and ``h_2`` (> 0).
        max_abs_a: bound on ``|a_i|`` (in (0, 1]).
        linear_span: range ``s > 0`` of the linear unit pairs (None: none; needs
            ``hidden_dim >= 2 * units``).
        generator: random source of ``W_2`` and ``h_2``.

    Returns:
        ``(units,)`` one-step residual sd per fitted unit.

    Raises:
        TypeError: not a shallow PLRNN.
        ValueError: inputs or mean-centring, mismatched or too few transitions, non-finite
            values, or an argument out of range.
    """
    if not isinstance(dynamics, ShallowPLRNN):
        raise TypeError(
            "a ridge fit needs a ShallowPLRNN or ClippedShallowPLRNN, got "
            f"{type(dynamics).__name__}"
        )
    if dynamics.input_dim or dynamics.mean_centering:
        raise ValueError("a ridge fit supports PLRNNs without inputs and without mean-centring")
    m, hid = dynamics.latent_dim, dynamics.hidden_dim
    units = m if units is None else int(units)
    if not 1 <= units <= m:
        raise ValueError(f"units must be in [1, {m}], got {units}")
    if ridge < 0 or not scale > 0 or not 0 < max_abs_a <= 1:
        raise ValueError(
            f"need ridge >= 0, scale > 0 and 0 < max_abs_a <= 1; got ridge={ridge}, "
            f"scale={scale}, max_abs_a={max_abs_a}"
        )
    if linear_span is not None and not (linear_span > 0 and 2 * units <= hid):
        raise ValueError(
            f"linear_span needs a value > 0 and hidden_dim >= 2 * units = {2 * units}; got "
            f"linear_span={linear_span}, hidden_dim={hid}"
        )
    if z.dim() != 2 or z.shape != z_next.shape or z.shape[-1] != m:
        raise ValueError(
            f"z and z_next must both be (N, {m}); got {tuple(z.shape)} and {tuple(z_next.shape)}"
        )
    if z.shape[0] < 2:
        raise ValueError(f"a ridge fit needs at least 2 transitions, got {z.shape[0]}")
    if not (torch.isfinite(z[:, :units]).all() and torch.isfinite(z_next[:, :units]).all()):
        raise ValueError("z and z_next must be finite")
    p = dynamics.W2
    w2 = torch.zeros(hid, m, dtype=p.dtype, device=p.device)
    w2[:, :units] = scale * torch.randn(hid, units, generator=generator).to(w2)
    h2 = (scale * torch.randn(hid, generator=generator)).to(w2)
    if linear_span is not None:
        pairs = torch.arange(2 * units)
        w2[pairs] = 0.0
        w2[pairs, pairs // 2] = 1.0 - 2.0 * (pairs % 2).to(w2)
        h2[pairs] = float(linear_span)
    a = torch.zeros(m, dtype=torch.float64)
    w1 = torch.zeros(m, hid, dtype=torch.float64)
    h1 = torch.zeros(m, dtype=torch.float64)
    with torch.no_grad():
        dynamics.W2.copy_(w2)
        dynamics.h2.copy_(h2)
        phi = dynamics._hidden(z.to(w2) @ w2.T).double()
    x, y = z.double(), z_next.double()
    # one Gram matrix of [x_1..x_units, φ, 1] serves every unit's regression (its own x_i, the
    # shared φ and intercept): the N x L products are formed once, not once per unit
    feats = torch.cat([x[:, :units], phi, torch.ones(x.shape[0], 1, dtype=torch.float64)], 1)
    gram, cross = feats.T @ feats, feats.T @ y[:, :units]
    shared = torch.arange(units, feats.shape[1])
    residual = torch.empty(units, dtype=torch.float64)
    for i in range(units):
        idx = torch.cat([torch.tensor([i]), shared])
        beta = _ridge_gram(gram[idx][:, idx], cross[idx, i], ridge)
        if beta[0].abs() > max_abs_a:
            a_i = math.copysign(max_abs_a, float(beta[0]))
            rhs = cross[shared, i] - a_i * gram[shared, i]
            rest = _ridge_gram(gram[shared][:, shared], rhs, ridge)
            beta = torch.cat([torch.tensor([a_i], dtype=torch.float64), rest])
        a[i], w1[i], h1[i] = beta[0], beta[1:-1], beta[-1]
        residual[i] = (y[:, i] - feats[:, idx] @ beta).std()
    with torch.no_grad():
        dynamics.a.copy_(a.to(w2))
        dynamics.W1.copy_(w1.to(w2))
        dynamics.h1.copy_(h1.to(w2))
    return residual


def _ridge_gram(gram: Tensor, rhs: Tensor, ridge: float) -> Tensor:
    """Ridge solution from ``X^T X`` and ``X^T y``, the last column (the intercept) unpenalised."""
    penalty = torch.full((gram.shape[0],), float(ridge), dtype=gram.dtype)
    penalty[-1] = 0.0
    return torch.linalg.solve(gram + torch.diag(penalty), rhs)


__all__ = ["ridge_fit_shallow_plrnn"]

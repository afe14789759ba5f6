"""LaDID's two regularisers that are not part of any ELBO, per window row.

Both are negative log-densities summed over a window's steps, returned per row ``(..., B)`` so
that the model can issue them as ``pyro.factor`` sites inside the sequence plate (vectorised
over leading sample dimensions):

* ``reg.embedding`` (LaDID's "l_emb", spec ladid 1.7): the predicted latents are scored under the
  per-frame token Gaussians of the whole window, on the query steps;
* ``reg.overlap`` (the smoothness loss): the predictions of consecutive, overlapping windows for
  the same absolute times are tied by ``N(z_b(t) | z_{b+1}(t), s^2)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.nn.fusion.base import SHARED, Fusion


def embedding_nll(
    fusion: Fusion,
    tokens: Mapping[str, dist.Normal],
    steps: Mapping[str, Tensor],
    z: Mapping[str, Tensor],
    weight: Tensor,
) -> Tensor:
    """``-sum_t w_t log N(z(t) | gamma_t, sigma_t)`` per row.

    Args:
        fusion: the model's fusion (per-modality latents score each modality's own tokens;
            otherwise the tokens of several modalities are fused per step).
        tokens: modality -> per-frame token Gaussians ``(B, L, K)``.
        steps: modality -> ``(B, L)`` bool, the modality is observed at the step.
        z: site key -> predicted latents ``(..., B, L, M)``.
        weight: ``(B, L)`` 0/1 steps scored (the query steps).

    Returns:
        ``(..., B)``.
    """
    w = weight.to(next(iter(z.values())).dtype)
    if fusion.per_modality_latents:
        total = None
        for m, q in tokens.items():
            if m in z:
                wm = w * steps[m].to(w.dtype)
                term = -(q.log_prob(z[m]).sum(-1) * wm).sum(-1)
                total = term if total is None else total + term
        return total
    if len(tokens) == 1:
        fused = next(iter(tokens.values()))
        w = w * next(iter(steps.values())).to(w.dtype)
    else:
        fused = fusion.posterior(tokens, steps)
        # steps no modality observes carry no embedding target
        w = w * fusion.any_present(steps, list(tokens)).to(w.dtype)
    return -(fused.log_prob(z[SHARED]).sum(-1) * w).sum(-1)


def overlap_nll(
    z: Mapping[str, Tensor],
    pairs: Tensor,
    *,
    context: int,
    horizon: int,
    overlap: int,
    scale: float,
    num_rows: int,
) -> Tensor:
    """``-sum log N(z_a(t) | z_b(t), s^2)`` on the shared query steps of window pairs ``(a, b)``.

    The term of a pair is booked on its first row ``a``.

    Args:
        z: site key -> latents ``(..., B, L, M)`` of windows of ``C + q + o`` steps.
        pairs: ``(P, 2)`` rows ``(a, b)`` of consecutive windows (b starts q after a).
        context: C.
        horizon: q.
        overlap: o.
        scale: s.
        num_rows: B.

    Returns:
        ``(..., B)``.
    """
    c, q, o = int(context), int(horizon), int(overlap)
    total = None
    for zk in z.values():
        first = pairs[:, 0].to(zk.device)
        a = zk[..., first, c + q : c + q + o, :]
        b = zk[..., pairs[:, 1].to(zk.device), c : c + o, :]
        term = -dist.Normal(b, scale).log_prob(a).sum((-1, -2))
        rows = torch.zeros(*term.shape[:-1], int(num_rows), dtype=term.dtype, device=term.device)
        rows = rows.index_add(-1, first, term)
        total = rows if total is None else total + rows
    return total


__all__ = ["embedding_nll", "overlap_nll"]

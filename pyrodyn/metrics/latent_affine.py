"""D_stsp of a latent trajectory after an affine map to the true state, fitted on paired data.

The score of a reconstruction from channels that do not show the state (ordinal, count or label
channels): a least-squares affine map from a model's latent to the true state is fitted where both
are known (the encoder latents of the training part and the true training state), then applied to
a free-running latent trajectory, which is compared with the true held-out state. Unlike the
Procrustes alignment of :func:`~pyrodyn.metrics.latent.latent_d_stsp`, the map is a general
affine one (any linear part, from any number of latent units), and the mapped trajectory is not
re-standardised by its own statistics: an offset or a scale the map carries from the training part
counts against the reconstruction.
"""

from __future__ import annotations

import numpy as np

from pyrodyn.metrics.base import register_metric
from pyrodyn.metrics.latent import _affine_apply, _affine_fit, _rows
from pyrodyn.metrics.state_space import d_stsp


@register_metric(
    "affine_latent_d_stsp",
    needs=("latent_pred", "latent_true"),
    description="D_stsp of the latent after an affine map to the true state fitted on paired data",
)
def affine_latent_d_stsp(
    latent_pred: np.ndarray,
    latent_true: np.ndarray | None = None,
    *,
    x_true_state: np.ndarray | None = None,
    fit_latent: np.ndarray | None = None,
    fit_state: np.ndarray | None = None,
    n_bins: int = 10,
    num_points: int | None = None,
) -> float:
    """State-space divergence of a latent trajectory from the true state after an affine map.

    The map ``[z, 1] @ W`` is the least-squares solution (``numpy.linalg.lstsq``) of
    ``[fit_latent, 1] @ W ~ fit_state`` (default pair: ``latent_pred`` and the true state
    themselves, which then must be row-aligned). It is applied to ``latent_pred``; the true state
    and the mapped latent are both standardised with the true state's mean and sd (one common
    change of frame, so the legacy ``+-2 sd`` bins of :func:`~pyrodyn.metrics.state_space.d_stsp`
    sit on the true state), and compared by binning D_stsp (``n_bins`` per dimension).

    Args:
        latent_pred: ``(T, D)`` or ``(B, T, D)`` latent trajectory, e.g. a free run.
        latent_true: ``(T', d)`` true state; alias ``x_true_state``.
        x_true_state: alias of ``latent_true``.
        fit_latent: ``(T'', D)`` latents row-aligned with ``fit_state`` (the map's fit).
        fit_state: ``(T'', d)`` true states of the map's fit.
        n_bins: bins per dimension of D_stsp.
        num_points: leading points of both trajectories compared (default: all).

    Returns:
        The D_stsp (NaN if a histogram is empty).

    Raises:
        ValueError: the true state given twice or not at all, only one of the fit pair, fit rows
            not aligned, or latent / state dimensions that do not match.
    """
    if (latent_true is None) == (x_true_state is None):
        raise ValueError("pass the true state exactly once, as latent_true or x_true_state")
    if (fit_latent is None) != (fit_state is None):
        raise ValueError("fit_latent and fit_state must be given together")
    x = _rows(latent_true if latent_true is not None else x_true_state, "latent_true")
    z = _rows(latent_pred, "latent_pred")
    ref = z if fit_latent is None else _rows(fit_latent, "fit_latent")
    state = x if fit_state is None else _rows(fit_state, "fit_state")
    if ref.shape[0] != state.shape[0]:
        raise ValueError(
            "the affine map needs row-aligned latents and states: got "
            f"{ref.shape[0]} latent rows and {state.shape[0]} state rows"
        )
    if ref.shape[1] != z.shape[1]:
        raise ValueError(
            f"fit_latent has {ref.shape[1]} dimensions and latent_pred {z.shape[1]}; the map "
            "is fitted and applied on the same latent units"
        )
    if state.shape[1] != x.shape[1]:
        raise ValueError(
            f"fit_state has {state.shape[1]} dimensions and the true state {x.shape[1]}"
        )
    mapped = _affine_apply(z, _affine_fit(ref, state))
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    n = num_points
    return d_stsp(
        ((x - mean) / sd)[:n], ((mapped - mean) / sd)[:n], n_bins=n_bins, bin_range="legacy"
    )

"""Exact inference in a linear-Gaussian state-space model: Kalman filter and RTS smoother.

The model, batched over ``B`` sequences of ``T`` steps (``t = 1..T``)::

    x_1 ~ N(m_1, P_1)
    x_{t+1} = A x_t + b + w_t,   w_t ~ N(0, Q)
    y_t     = C x_t + d + v_t,   v_t ~ N(0, R)

The prior is that of the first *observed* state; a model written from an unobserved
``x_0 ~ N(m_0, P_0)`` maps to it by one prediction step
(:meth:`LinearGaussianSSM.from_initial_state`). Observation entries can be missing (a mask per
step or per entry): a missing entry is left out of the update and of ``log p(y)``.

Everything here is exact, so it is the ground truth that approximate-inference diagnostics
(IWAE, PSIS k-hat, SBC) are tested against: the filter gives ``log p(y_{1:T})``, the
Rauch-Tung-Striebel smoother the marginals ``p(x_t | y_{1:T})`` and the lag-one
cross-covariances, and the smoother gains give the whole posterior over the trajectory as a
backward Markov chain (:func:`posterior_sample`, :func:`posterior_log_prob`).

References:
    H. E. Rauch, F. Tung and C. T. Striebel, "Maximum likelihood estimates of linear dynamic
    systems", AIAA Journal 3(8), 1965.
    S. Särkkä, "Bayesian Filtering and Smoothing", Cambridge University Press, 2013: ch. 4
    (the Kalman filter) and ch. 8 (the RTS smoother).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

_LOG_2PI = math.log(2.0 * math.pi)


def _sym(m: Tensor) -> Tensor:
    """Symmetric part (round-off makes updated covariances drift from symmetry)."""
    return 0.5 * (m + m.transpose(-1, -2))


def _cholesky(m: Tensor, what: str) -> Tensor:
    chol, info = torch.linalg.cholesky_ex(m)
    if bool((info != 0).any()):
        raise ValueError(f"{what} is not positive definite (Cholesky failed)")
    return chol


def _gaussian_log_prob(err: Tensor, chol: Tensor, num_obs: Tensor) -> Tensor:
    """``log N(err; 0, L L^T)`` counting ``num_obs`` dimensions in the normaliser.

    Missing entries have ``err = 0`` and a unit, uncorrelated row and column in the covariance,
    so they add nothing to the quadratic form or the log-determinant.
    """
    white = torch.linalg.solve_triangular(chol, err.unsqueeze(-1), upper=False).squeeze(-1)
    logdet = 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    # an integer count times a float gives float32: cast first to keep float64 exact
    return -0.5 * (white.pow(2).sum(-1) + logdet + num_obs.to(err.dtype) * _LOG_2PI)


@dataclass(frozen=True)
class LinearGaussianSSM:
    """Parameters of a time-invariant linear-Gaussian state-space model.

    Attributes:
        init_mean: ``(Dx,)`` mean m_1 of the first state.
        init_cov: ``(Dx, Dx)`` covariance P_1 of the first state.
        A: ``(Dx, Dx)`` transition matrix.
        b: ``(Dx,)`` transition offset.
        Q: ``(Dx, Dx)`` transition noise covariance.
        C: ``(Dy, Dx)`` observation matrix.
        d: ``(Dy,)`` observation offset.
        R: ``(Dy, Dy)`` observation noise covariance.
    """

    init_mean: Tensor
    init_cov: Tensor
    A: Tensor
    b: Tensor
    Q: Tensor
    C: Tensor
    d: Tensor
    R: Tensor

    def __post_init__(self) -> None:
        dx = self.A.shape[0] if self.A.dim() == 2 else -1
        dy = self.C.shape[0] if self.C.dim() == 2 else -1
        want = {
            "init_mean": (dx,),
            "init_cov": (dx, dx),
            "A": (dx, dx),
            "b": (dx,),
            "Q": (dx, dx),
            "C": (dy, dx),
            "d": (dy,),
            "R": (dy, dy),
        }
        for name, shape in want.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(
                    f"LinearGaussianSSM.{name} must have shape {shape} (Dx={dx}, Dy={dy}), "
                    f"got {got}"
                )

    @classmethod
    def from_initial_state(
        cls,
        m0: Tensor,
        P0: Tensor,
        A: Tensor,
        b: Tensor,
        Q: Tensor,
        C: Tensor,
        d: Tensor,
        R: Tensor,
    ) -> LinearGaussianSSM:
        """The model with ``x_0 ~ N(m0, P0)`` unobserved and ``y_1`` observing ``x_1``."""
        return cls(A @ m0 + b, _sym(A @ P0 @ A.T + Q), A, b, Q, C, d, R)

    @property
    def state_dim(self) -> int:
        """Dx."""
        return int(self.A.shape[0])

    @property
    def obs_dim(self) -> int:
        """Dy."""
        return int(self.C.shape[0])

    def to(self, *args: object, **kwargs: object) -> LinearGaussianSSM:
        """Every parameter moved/cast as ``Tensor.to(*args, **kwargs)``."""
        return LinearGaussianSSM(*(getattr(self, f.name).to(*args, **kwargs) for f in fields(self)))

    def sample(
        self, num_sequences: int, num_steps: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Ancestral draws: states ``(B, T, Dx)`` and observations ``(B, T, Dy)``."""
        opts = {"dtype": self.A.dtype, "device": self.A.device, "generator": generator}
        lq, lr = _cholesky(self.Q, "Q"), _cholesky(self.R, "R")
        x = (
            self.init_mean
            + torch.randn(num_sequences, self.state_dim, **opts)
            @ _cholesky(self.init_cov, "init_cov").T
        )
        states = [x]
        for _ in range(num_steps - 1):
            x = x @ self.A.T + self.b + torch.randn(num_sequences, self.state_dim, **opts) @ lq.T
            states.append(x)
        xs = torch.stack(states, 1)
        ys = (
            xs @ self.C.T
            + self.d
            + torch.randn(num_sequences, num_steps, self.obs_dim, **opts) @ lr.T
        )
        return xs, ys

    def log_joint(self, x: Tensor, y: Tensor, mask: Tensor | None = None) -> Tensor:
        """``log p(x_{1:T}, y_{1:T})`` with missing entries left out: ``(..., B)``.

        Args:
            x: ``(..., B, T, Dx)`` states.
            y: ``(B, T, Dy)`` observations.
            mask: ``(B, T)`` or ``(B, T, Dy)`` bool, True where observed (default: finite y).
        """
        obs = _check_obs(self, y, mask)
        init = torch.distributions.MultivariateNormal(self.init_mean, self.init_cov)
        lp = init.log_prob(x[..., 0, :])
        if x.shape[-2] > 1:
            trans = torch.distributions.MultivariateNormal(
                x[..., :-1, :] @ self.A.T + self.b, self.Q
            )
            lp = lp + trans.log_prob(x[..., 1:, :]).sum(-1)
        err = torch.where(obs, y.nan_to_num() - x @ self.C.T - self.d, 0.0)
        chol = _cholesky(_masked_cov(self.R, obs), "R")
        return lp + _gaussian_log_prob(err, chol, obs.sum(-1)).sum(-1)


def _check_obs(ssm: LinearGaussianSSM, y: Tensor, mask: Tensor | None) -> Tensor:
    """The entry-wise observed mask ``(B, T, Dy)`` (validated)."""
    if y.dim() != 3 or y.shape[-1] != ssm.obs_dim:
        raise ValueError(f"y must have shape (B, T, Dy={ssm.obs_dim}), got {tuple(y.shape)}")
    if mask is None:
        return torch.isfinite(y)
    mask = torch.as_tensor(mask, dtype=torch.bool, device=y.device)
    if mask.shape == y.shape[:2]:
        mask = mask.unsqueeze(-1).expand(y.shape)
    if mask.shape != y.shape:
        raise ValueError(
            f"mask must have shape (B, T) = {tuple(y.shape[:2])} or (B, T, Dy) = "
            f"{tuple(y.shape)}, got {tuple(mask.shape)}"
        )
    if not bool(torch.isfinite(y[mask]).all()):
        raise ValueError("y has non-finite values at observed entries (mask them as missing)")
    return mask


def _masked_cov(r: Tensor, obs: Tensor) -> Tensor:
    """``R`` on observed entries, the identity on missing ones: ``(..., Dy, Dy)``."""
    both = obs.unsqueeze(-1) & obs.unsqueeze(-2)
    return torch.where(both, r, 0.0) + torch.diag_embed((~obs).to(r.dtype))


@dataclass
class KalmanFilterResult:
    """Kalman filter output (``B`` sequences, ``T`` steps).

    Attributes:
        pred_means: ``(B, T, Dx)`` one-step predictions ``E[x_t | y_{1:t-1}]`` (``m_1`` at t=1).
        pred_covs: ``(B, T, Dx, Dx)`` their covariances.
        filt_means: ``(B, T, Dx)`` filtered means ``E[x_t | y_{1:t}]``.
        filt_covs: ``(B, T, Dx, Dx)`` filtered covariances.
        step_log_lik: ``(B, T)`` ``log p(y_t | y_{1:t-1})`` of the observed entries.
    """

    pred_means: Tensor
    pred_covs: Tensor
    filt_means: Tensor
    filt_covs: Tensor
    step_log_lik: Tensor

    @property
    def log_marginal(self) -> Tensor:
        """``(B,)`` exact ``log p(y_{1:T})`` per sequence (observed entries)."""
        return self.step_log_lik.sum(-1)


@dataclass
class KalmanSmootherResult:
    """RTS smoother output on top of the filter's.

    Attributes:
        filtered: the :class:`KalmanFilterResult` it smooths.
        means: ``(B, T, Dx)`` ``E[x_t | y_{1:T}]``.
        covs: ``(B, T, Dx, Dx)`` ``Cov[x_t | y_{1:T}]``.
        cross_covs: ``(B, T-1, Dx, Dx)``, entry ``t`` is ``Cov[x_{t+1}, x_t | y_{1:T}]``.
        gains: ``(B, T-1, Dx, Dx)`` smoother gains ``G_t = P^f_t A^T (P^p_{t+1})^{-1}``.
    """

    filtered: KalmanFilterResult
    means: Tensor
    covs: Tensor
    cross_covs: Tensor
    gains: Tensor

    @property
    def log_marginal(self) -> Tensor:
        """``(B,)`` exact ``log p(y_{1:T})`` per sequence."""
        return self.filtered.log_marginal


def kalman_filter(
    ssm: LinearGaussianSSM, y: Tensor, mask: Tensor | None = None
) -> KalmanFilterResult:
    """Kalman filter with missing observations (Särkkä 2013, ch. 4).

    A missing entry gets a zero row in ``C`` and ``d``, a zero residual and a unit, uncorrelated
    noise variance: its Kalman gain column is then exactly zero, so the update uses the observed
    entries only, and the normaliser counts observed entries only.

    Args:
        ssm: the model.
        y: ``(B, T, Dy)`` observations (values at missing entries are ignored, NaN allowed).
        mask: ``(B, T)`` or ``(B, T, Dy)`` bool, True where observed (default: finite ``y``).

    Returns:
        Predicted and filtered moments and the per-step log-likelihoods.
    """
    obs = _check_obs(ssm, y, mask)
    y = torch.where(obs, y.to(ssm.A.dtype), 0.0)
    bsz, steps, _ = y.shape
    eye = torch.eye(ssm.state_dim, dtype=y.dtype, device=y.device)
    m = ssm.init_mean.expand(bsz, -1)
    p = ssm.init_cov.expand(bsz, -1, -1)
    out: dict[str, list[Tensor]] = {k: [] for k in ("pm", "pp", "fm", "fp", "ll")}
    for t in range(steps):
        if t > 0:
            m = m @ ssm.A.T + ssm.b
            p = _sym(ssm.A @ p @ ssm.A.T + ssm.Q)
        out["pm"].append(m)
        out["pp"].append(p)
        o = obs[:, t]
        c = torch.where(o.unsqueeze(-1), ssm.C, 0.0)  # (B, Dy, Dx)
        err = y[:, t] - torch.where(o, (c @ m.unsqueeze(-1)).squeeze(-1) + ssm.d, 0.0)
        r = _masked_cov(ssm.R, o)
        s = _sym(c @ p @ c.transpose(-1, -2) + r)
        chol = _cholesky(s, f"the innovation covariance at step {t}")
        out["ll"].append(_gaussian_log_prob(err, chol, o.sum(-1)))
        # K = P C^T S^{-1} = (S^{-1} C P)^T, with S's Cholesky factor
        gain = torch.cholesky_solve(c @ p, chol).transpose(-1, -2)
        m = m + (gain @ err.unsqueeze(-1)).squeeze(-1)
        # Joseph form: stays positive semi-definite under round-off
        ikc = eye - gain @ c
        p = _sym(ikc @ p @ ikc.transpose(-1, -2) + gain @ r @ gain.transpose(-1, -2))
        out["fm"].append(m)
        out["fp"].append(p)
    return KalmanFilterResult(
        pred_means=torch.stack(out["pm"], 1),
        pred_covs=torch.stack(out["pp"], 1),
        filt_means=torch.stack(out["fm"], 1),
        filt_covs=torch.stack(out["fp"], 1),
        step_log_lik=torch.stack(out["ll"], 1),
    )


def rts_smoother(ssm: LinearGaussianSSM, filtered: KalmanFilterResult) -> KalmanSmootherResult:
    """Rauch-Tung-Striebel smoother (Rauch, Tung & Striebel 1965; Särkkä 2013, ch. 8).

    Backwards from ``t = T - 1``: ``G_t = P^f_t A^T (P^p_{t+1})^{-1}``,
    ``m^s_t = m^f_t + G_t (m^s_{t+1} - m^p_{t+1})``,
    ``P^s_t = P^f_t + G_t (P^s_{t+1} - P^p_{t+1}) G_t^T``, and the lag-one cross-covariance
    ``Cov[x_{t+1}, x_t | y_{1:T}] = P^s_{t+1} G_t^T``.
    """
    fm, fp = filtered.filt_means, filtered.filt_covs
    pm, pp = filtered.pred_means, filtered.pred_covs
    steps = fm.shape[1]
    # G_t^T = (P^p_{t+1})^{-1} A P^f_t, as P^p is symmetric; all gains at once
    chol = _cholesky(pp[:, 1:], "predicted covariance")
    gains = torch.cholesky_solve(ssm.A @ fp[:, :-1], chol).transpose(-1, -2)
    means, covs = [fm[:, -1]], [fp[:, -1]]
    for t in range(steps - 2, -1, -1):
        g = gains[:, t]
        means.append(fm[:, t] + (g @ (means[-1] - pm[:, t + 1]).unsqueeze(-1)).squeeze(-1))
        covs.append(_sym(fp[:, t] + g @ (covs[-1] - pp[:, t + 1]) @ g.transpose(-1, -2)))
    means_t, covs_t = torch.stack(means[::-1], 1), torch.stack(covs[::-1], 1)
    cross = covs_t[:, 1:] @ gains.transpose(-1, -2)
    return KalmanSmootherResult(filtered, means_t, covs_t, cross, gains)


def kalman_smoother(
    ssm: LinearGaussianSSM, y: Tensor, mask: Tensor | None = None
) -> KalmanSmootherResult:
    """:func:`kalman_filter` then :func:`rts_smoother` (arguments as for the filter)."""
    return rts_smoother(ssm, kalman_filter(ssm, y, mask))


def _backward_conditionals(smoothed: KalmanSmootherResult) -> tuple[Tensor, Tensor]:
    """``p(x_t | x_{t+1}, y_{1:T}) = N(offset_t + G_t x_{t+1}, cov_t)`` for ``t < T``.

    Given ``x_{t+1}``, ``x_t`` no longer depends on later observations, so this is the filtered
    state conditioned on the next one: offset ``m^f_t - G_t m^p_{t+1}``, covariance
    ``P^f_t - G_t P^p_{t+1} G_t^T``. Returns ``(B, T-1, Dx)`` offsets and covariances.
    """
    f, g = smoothed.filtered, smoothed.gains
    offset = f.filt_means[:, :-1] - (g @ f.pred_means[:, 1:].unsqueeze(-1)).squeeze(-1)
    cov = _sym(f.filt_covs[:, :-1] - g @ f.pred_covs[:, 1:] @ g.transpose(-1, -2))
    return offset, cov


def posterior_sample(
    smoothed: KalmanSmootherResult,
    num_samples: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Exact draws of whole trajectories from ``p(x_{1:T} | y_{1:T})``: ``(S, B, T, Dx)``.

    Backward simulation: ``x_T`` from the last smoothed marginal, then each ``x_t`` from
    ``p(x_t | x_{t+1}, y_{1:T})`` (Särkkä 2013, ch. 8).
    """
    means, covs = smoothed.means, smoothed.covs
    bsz, steps, dx = means.shape
    opts = {"dtype": means.dtype, "device": means.device, "generator": generator}
    offset, cov = _backward_conditionals(smoothed)
    chol = _cholesky(cov, "backward conditional covariance") if steps > 1 else None
    last = _cholesky(covs[:, -1], "last smoothed covariance")
    eps = torch.randn(num_samples, bsz, dx, 1, **opts)
    x = means[:, -1] + (last @ eps).squeeze(-1)
    out = [x]
    for t in range(steps - 2, -1, -1):
        eps = torch.randn(num_samples, bsz, dx, 1, **opts)
        gx = (smoothed.gains[:, t] @ x.unsqueeze(-1)).squeeze(-1)
        x = offset[:, t] + gx + (chol[:, t] @ eps).squeeze(-1)
        out.append(x)
    return torch.stack(out[::-1], -2)


def posterior_log_prob(smoothed: KalmanSmootherResult, x: Tensor) -> Tensor:
    """Exact ``log p(x_{1:T} | y_{1:T})`` of trajectories ``(..., B, T, Dx)``: ``(..., B)``."""
    mvn = torch.distributions.MultivariateNormal
    lp = mvn(smoothed.means[:, -1], smoothed.covs[:, -1]).log_prob(x[..., -1, :])
    if x.shape[-2] > 1:
        offset, cov = _backward_conditionals(smoothed)
        loc = offset + (smoothed.gains @ x[..., 1:, :].unsqueeze(-1)).squeeze(-1)
        lp = lp + mvn(loc, cov).log_prob(x[..., :-1, :]).sum(-1)
    return lp


__all__ = [
    "KalmanFilterResult",
    "KalmanSmootherResult",
    "LinearGaussianSSM",
    "kalman_filter",
    "kalman_smoother",
    "posterior_log_prob",
    "posterior_sample",
    "rts_smoother",
]

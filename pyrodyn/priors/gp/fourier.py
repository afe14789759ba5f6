"""Fourier-domain Gaussian-process prior for any stationary GPyTorch kernel.

Each latent dimension of a trial of ``T`` steps is a GP on a padded circle of ``n`` points; in the
real Fourier basis of that circle (:class:`~pyrodyn.priors.gp.basis.FourierBasis`) its covariance
is diagonal, with the kernel's spectral density as variances. The latent site therefore holds
``F`` real coefficients per latent, ``(B, D, F)``, with a diagonal Normal prior: the KL to a
mean-field posterior costs O(D F), sampling O(D F) and the map to time O(D F T) (cached basis,
short trials) or O(D n log n) (irfft, long trials).

Reference: R. Gondur et al., "Multi-modal Gaussian Process Variational Autoencoders for Neural
and Behavioral Data", ICLR 2024 (the Fourier prior of Aoi & Pillow 2017), with the corrections of
specs/mmgpvae.md: padding large enough for the wrapped covariance to match the kernel, exact
wrapped eigenvalues for kernels without a closed form, and a correct Gaussian KL.
"""

from __future__ import annotations

import copy
import math

import pyro
import pyro.distributions as dist
import torch
from gpytorch.kernels import Kernel
from pyro.poutine.runtime import am_i_wrapped
from torch import Tensor

from pyrodyn.priors.base import LatentPrior, PriorContext
from pyrodyn.priors.gp.basis import FourierBasis
from pyrodyn.priors.gp.kernels import kernel_latent_dim, prior_arguments, set_lengthscale
from pyrodyn.priors.gp.spectral import (
    NoClosedFormError,
    check_stationary,
    circulant_eigenvalues,
    decay_lag,
    spectral_density,
)


def _smooth_length(n: int) -> int:
    """Smallest integer ``>= n`` whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
    m = max(int(n), 1)
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


class FourierGPPrior(LatentPrior):
    """Independent stationary GPs per latent dimension, parameterised by Fourier coefficients.

    Site ``z``: coefficients ``(B, D, F)`` with prior ``Normal(0, sqrt(s))``, where
    ``s[d, k] = S_d(omega_k) / dt + jitter`` (closed form, see
    :func:`~pyrodyn.priors.gp.spectral.spectral_density`) or the exact eigenvalue of the wrapped
    covariance (FFT fallback, any other stationary kernel). :meth:`to_latent` maps them to
    ``(B, T, D)``. Works for any trial length at call time (one basis per ``(T, dt)``, cached);
    trials shorter than the batch are handled by the model's masks (the prior covers the padded
    batch length, which marginalises exactly to each trial's valid steps).

    **Padding** (``padding=None``): the circle is ``n = T + ceil(pad / dt)`` points (rounded up to
    a fast FFT size) with ``pad = padding_margin * lag`` and ``lag`` the smallest lag with
    ``|k| <= padding_tol * k(0)`` at the kernel's hyperparameters when first used; wrap-around
    then changes the covariance by at most ``padding_tol * k(0)``. The reference's ``0.2 T``
    padding is 43 % off at its initial length-scale (specs/mmgpvae.md 1.2).

    **Pruning rule** (``max_frequency=None``): on the first grid, let ``omega_c`` be the highest
    frequency whose prior variance is at least ``1 / condthresh`` of the largest; frequencies up
    to ``bandwidth * omega_c`` are kept on every grid (for the RBF kernel this is the reference's
    rule ``exp(-l_min^2 omega^2 / 2) > 1 / condthresh`` with ``l_min = l_init / bandwidth``). Both
    thresholds are recorded as buffers, so a reloaded model uses the same frequencies.

    **Hyperpriors** registered on the kernel (GPyTorch ``register_prior``) enter the objective:
    :meth:`forward` adds their log density as a ``pyro.factor`` site ``<prior>.hyperprior``.

    Args:
        latent_dim: D (default: the kernel's batch size, or 1).
        kernel: a stationary GPyTorch kernel on 1-D time (a submodule; its hyperparameters are
            learned through GPyTorch's constraints). ``batch_shape`` ``(D,)`` gives one GP per
            latent; ``()`` shares hyperparameters across latents. The old order
            ``FourierGPPrior(kernel, latent_dim)`` still works, with a ``FutureWarning``.
        dt: time step; None takes it from ``ctx.times`` (regular grids only), else 1.
        padding: padding in time units (None: automatic, see above).
        padding_tol: relative covariance tolerance of the automatic padding.
        padding_margin: factor on the decay lag (room for the length-scale to grow in training).
        max_frequency: highest kept angular frequency (rad per time unit); None: automatic;
            ``math.inf``: no pruning.
        condthresh: spectral dynamic range kept by the automatic pruning rule (>= 1).
        bandwidth: factor on the automatic cut-off (room for the length-scale to shrink).
        jitter: variance added to every coefficient (conditioning; the reference uses 1e-2).
        spectral: ``"auto"`` (closed form when registered, else FFT), ``"closed_form"`` or
            ``"fft"``.
        wraps: wraps of the autocovariance summed by the FFT fallback.
        method: coefficients -> time map: ``"auto"``, ``"matmul"`` or ``"fft"``.
        lengthscale: if given, initial length-scale (time units) of every part of the kernel
            that has one (configs cannot set it through GPyTorch's constructors).
    """

    def __init__(
        self,
        latent_dim: int | None = None,
        kernel: Kernel | None = None,
        *,
        dt: float | None = None,
        padding: float | None = None,
        padding_tol: float = 1e-4,
        padding_margin: float = 1.5,
        max_frequency: float | None = None,
        condthresh: float = 1e8,
        bandwidth: float = 2.0,
        jitter: float = 1e-4,
        spectral: str = "auto",
        wraps: int = 3,
        method: str = "auto",
        lengthscale: float | None = None,
    ) -> None:
        latent_dim, kernel = prior_arguments("FourierGPPrior", latent_dim, kernel)
        super().__init__(kernel_latent_dim(kernel, latent_dim))
        if spectral not in ("auto", "closed_form", "fft"):
            raise ValueError(f"spectral must be 'auto', 'closed_form' or 'fft', got {spectral!r}")
        if method not in ("auto", "matmul", "fft"):
            raise ValueError(f"method must be 'auto', 'matmul' or 'fft', got {method!r}")
        if not padding_tol > 0:
            raise ValueError(f"padding_tol must be positive, got {padding_tol}")
        if not condthresh >= 1:  # a dynamic range: below 1 no frequency would pass the rule
            raise ValueError(f"condthresh must be >= 1 (a dynamic range), got {condthresh}")
        if padding_margin < 1 or bandwidth < 1:
            raise ValueError(
                f"padding_margin and bandwidth must be >= 1, got {padding_margin}, {bandwidth}"
            )
        if jitter < 0 or (padding is not None and padding < 0):
            raise ValueError(f"jitter and padding must be >= 0, got {jitter}, {padding}")
        if dt is not None and not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        if lengthscale is not None:
            set_lengthscale(kernel, lengthscale)
        self.kernel = kernel
        self.dt = None if dt is None else float(dt)
        self.padding_tol, self.padding_margin = float(padding_tol), float(padding_margin)
        self.condthresh, self.bandwidth = float(condthresh), float(bandwidth)
        self.jitter, self.spectral, self.wraps, self.method = (
            float(jitter),
            spectral,
            int(wraps),
            method,
        )
        check_stationary(kernel, scale=10.0 * (self.dt or 1.0))
        if spectral == "closed_form":
            with torch.no_grad():
                spectral_density(kernel, torch.zeros(1))  # raises NoClosedFormError early
        nan = float("nan")
        self.register_buffer("padding", torch.tensor(nan if padding is None else float(padding)))
        self.register_buffer(
            "max_frequency", torch.tensor(nan if max_frequency is None else float(max_frequency))
        )
        self._bases: dict[tuple[int, float], FourierBasis] = {}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # loaded padding / cut-off thresholds invalidate every cached grid
        self._bases = {}
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ grids and variances
    def resolve_dt(self, ctx: PriorContext) -> float:
        """The time step: ``dt`` if given, else from ``ctx.times`` (must be regular), else 1.

        Steps may differ from the first by ``1e-3`` of it plus what rounding the stamps to
        their dtype explains: each stamp is off by at most ``eps / 2 * max|t|``, so two steps
        differ by at most ``2 * eps * max|t|`` (``eps`` of float32 for float32 stamps).
        """
        if self.dt is not None:
            return self.dt
        times = ctx.times
        if times is None or times.shape[-1] < 2:
            return 1.0
        eps = torch.finfo(times.dtype).eps if times.is_floating_point() else 0.0
        stamps = times.detach().double()
        d = torch.diff(stamps, dim=-1)
        mask = ctx.step_mask()
        if mask is not None:
            d = torch.where(mask[:, 1:].to(d.device), d, d[:, :1])
        step = float(d[0, 0])
        tol = 1e-3 * abs(step) + 2.0 * eps * float(stamps.abs().max())
        if not step > 0 or not bool(((d - step).abs() <= tol).all()):
            raise ValueError(
                "FourierGPPrior needs regularly spaced times (one dt for every trial); got steps "
                f"between {float(d.min()):.4g} and {float(d.max()):.4g}. Pass dt= or use "
                "DenseGPPrior for irregular times"
            )
        return step

    def basis(self, num_steps: int, dt: float = 1.0) -> FourierBasis:
        """The cached :class:`FourierBasis` for trials of ``num_steps`` steps spaced ``dt``.

        Raises:
            ValueError: ``num_steps < 2``, or a fixed padding that leaves no room.
        """
        key = (int(num_steps), round(float(dt), 12))
        found = self._bases.get(key)
        if found is not None:
            return found
        if int(num_steps) < 2:
            raise ValueError(
                f"FourierGPPrior needs trials of at least 2 steps, got T={num_steps}; a GP prior "
                "over one step is a static Normal (use StandardNormalPrior)"
            )
        # thresholds come from a float64 copy: float32 round-off (~1e-7) would hide the decay
        ref = copy.deepcopy(self.kernel).double()
        if torch.isnan(self.padding):
            lag = decay_lag(ref, dt, tol=self.padding_tol)
            self.padding.fill_(self.padding_margin * lag)
        pad_steps = math.ceil(float(self.padding) / dt - 1e-9)
        n = _smooth_length(int(num_steps) + pad_steps)
        if pad_steps < 1:
            raise ValueError(
                f"padding={float(self.padding):.4g} time units is shorter than one step dt={dt}; "
                "the circle needs at least one step of padding so the trial's ends do not touch"
            )
        omega_all = 2.0 * math.pi * torch.arange(n // 2 + 1, dtype=torch.float64) / (n * dt)
        if torch.isnan(self.max_frequency):
            with torch.no_grad():
                s = self._variances_on_circle(n, dt, n // 2, kernel=ref, closed=False)
            s = s.reshape(-1, s.shape[-1])
            keep = (s >= s.max(-1, keepdim=True).values / self.condthresh).any(0)
            top = int(keep.nonzero().max())
            if top >= n // 2:
                self.max_frequency.fill_(math.inf)
            else:
                self.max_frequency.fill_(self.bandwidth * float(omega_all[max(top, 1)]))
        # the cut-off lives in a float32 buffer (relative rounding up to 6e-8): a 1e-6 margin
        # keeps the grid frequency it was computed from
        kept = omega_all <= float(self.max_frequency) * (1 + 1e-6)
        max_index = int(kept.nonzero().max())
        found = FourierBasis(int(num_steps), n, dt, max_index, method=self.method)
        self._bases[key] = found
        return found

    def _variances_on_circle(
        self,
        n: int,
        dt: float,
        max_index: int,
        *,
        kernel: Kernel | None = None,
        closed: bool | None = None,
    ) -> Tensor:
        """Prior variance per integer frequency ``0..max_index``: ``(D or 1, max_index + 1)``.

        With ``spectral="auto"`` the closed form ``S(omega) / dt`` is used only when pruning
        removed frequencies: the density is then below ``1 / condthresh`` of its peak beyond the
        cut-off, so aliasing (the closed form ignores it) is negligible. Unpruned (rough) kernels,
        e.g. Matern-1/2, use the exact wrapped eigenvalues instead (the closed form is ~2 % off
        at the diagonal for Matern-1/2 at l = 10 steps).
        """
        kernel = self.kernel if kernel is None else kernel
        if closed is None:
            closed = self.spectral == "closed_form" or (
                self.spectral == "auto" and math.isfinite(float(self.max_frequency))
            )
        if closed:
            try:
                # float64 grid, then the kernel's dtype (a float32 grid loses ~1e-7 for float64
                # kernels)
                k = torch.arange(max_index + 1, dtype=torch.float64)
                omega = 2.0 * math.pi * k / (n * dt)
                like = next(kernel.parameters(), None)
                if like is not None:
                    omega = omega.to(device=like.device, dtype=like.dtype)
                s = spectral_density(kernel, omega) / dt
                return s.reshape(-1, s.shape[-1])
            except NoClosedFormError:
                if self.spectral == "closed_form":
                    raise
        s = circulant_eigenvalues(kernel, n, dt, self.wraps)[..., : max_index + 1]
        return s.reshape(-1, s.shape[-1])

    def variances(self, basis: FourierBasis) -> Tensor:
        """Prior variance of every coefficient, ``(D, F)`` (jitter included)."""
        s = self._variances_on_circle(basis.n, basis.dt, basis.max_index)
        s = s[:, basis.indices().to(s.device)] + self.jitter
        return s.expand(self.latent_dim, -1)

    # ------------------------------------------------------------------ LatentPrior API
    def grid(self, ctx: PriorContext) -> FourierBasis:
        """The basis of a context's grid."""
        if ctx.num_steps is None:
            raise ValueError("FourierGPPrior needs sequences (num_steps), not static latents")
        return self.basis(ctx.num_steps, self.resolve_dt(ctx))

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """``Normal(0, sqrt(s))`` over coefficients: batch ``(B,)``, event ``(D, F)``."""
        b = self.grid(ctx)
        s = self.variances(b)
        if ctx.like is not None:
            s = s.to(device=ctx.like.device)
        scale = s.sqrt().expand(ctx.num_sequences, *s.shape)
        return dist.Normal(torch.zeros_like(scale), scale).to_event(2)

    def to_latent(self, value: Tensor, ctx: PriorContext) -> Tensor:
        """Coefficients ``(..., B, D, F)`` -> latent ``(..., B, T, D)``."""
        return self.grid(ctx).to_time(value).transpose(-1, -2)

    def forward(self, ctx: PriorContext) -> Tensor:
        """Adds the kernel hyperprior factor (if any), samples ``z`` and returns ``(B, T, D)``."""
        lp = self.hyperprior_log_prob()
        if lp is not None and am_i_wrapped():
            # inside the sequence plate the factor is broadcast over B rows: split it evenly
            b = ctx.num_sequences
            pyro.factor(self._pyro_get_fullname("hyperprior"), (lp / b).expand(b))
        return super().forward(ctx)

    def hyperprior_log_prob(self) -> Tensor | None:
        """Sum of the log densities of the priors registered on the kernel (None if none)."""
        total = None
        for _name, module, prior, closure, _ in self.kernel.named_priors():
            lp = prior.log_prob(closure(module)).sum()
            total = lp if total is None else total + lp
        return total

    # ------------------------------------------------------------------ helpers for guides
    def kl(self, posterior: dist.Normal, ctx: PriorContext) -> Tensor:
        """Closed-form ``KL(q || p)`` of a mean-field posterior ``(B, D, F)`` -> ``(B,)``.

        ``0.5 [(sigma^2 + mu^2) / s - 1 - log(sigma^2 / s)]`` summed over latents and
        frequencies (specs/mmgpvae.md 1.5), O(D F).
        """
        s = self.variances(self.grid(ctx)).to(posterior.loc.device)
        var = posterior.scale**2
        kl = 0.5 * ((var + posterior.loc**2) / s - 1.0 - torch.log(var / s))
        return kl.sum((-2, -1))

    def posterior(
        self,
        loc: Tensor,
        scale: Tensor,
        ctx: PriorContext,
        weights: Tensor | None = None,
    ) -> dist.Normal:
        """Mean-field Fourier posterior from per-step Gaussian pseudo-observations.

        Treats an encoder's per-step ``N(loc_t, scale_t^2)`` as likelihood terms for the latent
        ``z_t = sum_k B_kt c_k`` and combines them with this prior: the posterior precision is
        ``diag(1/s) + B W B^T`` with ``W = diag(weights_t / scale_t^2)``; returns its exact mean
        and the mean-field variance ``1 / diag(precision)``. Works for any ``T``; steps with
        weight 0 (padding, missing modality) are ignored.

        Args:
            loc: ``(..., B, T, D)`` pseudo-observation means (leading sample dims broadcast).
            scale: ``(..., B, T, D)`` positive pseudo-observation scales.
            ctx: the context (grid).
            weights: ``(B, T)`` or ``(B, T, D)`` non-negative step weights (default 1).

        Returns:
            ``Normal`` with batch shape ``(..., B, D, F)``: element-wise over the site, as the
            base contract asks (:meth:`guide_distribution` folds it).
        """
        basis = self.grid(ctx)
        mat = basis.matrix(device=loc.device, dtype=torch.float64)  # (F, T)
        s = self.variances(basis).to(device=loc.device, dtype=torch.float64)  # (D, F)
        prec_t = scale.double().transpose(-1, -2) ** -2  # (B, D, T)
        if weights is not None:
            w = weights.to(device=loc.device, dtype=torch.float64)
            w = w[..., None] if w.dim() == 2 else w
            prec_t = prec_t * w.transpose(-1, -2)
        eye = torch.eye(mat.shape[0], dtype=mat.dtype, device=mat.device)
        lam = torch.einsum("...dt,ft,gt->...dfg", prec_t, mat, mat) + torch.diag_embed(1.0 / s)
        rhs = torch.einsum("...dt,ft->...df", prec_t * loc.double().transpose(-1, -2), mat)
        chol = torch.linalg.cholesky(lam + 1e-10 * eye)
        mean = torch.cholesky_solve(rhs.unsqueeze(-1), chol).squeeze(-1)
        var = 1.0 / torch.diagonal(lam, dim1=-2, dim2=-1)
        return dist.Normal(mean.to(loc.dtype), var.sqrt().to(loc.dtype))

    def time_marginals(self, posterior: dist.Normal, ctx: PriorContext) -> tuple[Tensor, Tensor]:
        """Time-domain mean and marginal variance ``(B, T, D)`` of a mean-field posterior."""
        basis = self.grid(ctx)
        mean = basis.to_time(posterior.loc).transpose(-1, -2)
        mat = basis.matrix(device=posterior.loc.device, dtype=posterior.loc.dtype)
        var = (posterior.scale**2) @ (mat**2)
        return mean, var.transpose(-1, -2)

    def extra_repr(self) -> str:
        """Summary for ``repr``."""
        return f"latent_dim={self.latent_dim}, spectral={self.spectral!r}, jitter={self.jitter}"


__all__ = ["FourierGPPrior", "kernel_latent_dim", "set_lengthscale"]

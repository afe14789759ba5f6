"""Piecewise-linear recurrent neural networks (PLRNN family) as `DynamicsModel`s.

Five variants of the latent map ``z_t = F(z_{t-1}, s_t)`` used for dynamical-systems
reconstruction (specs/mtf.md section 1.2):

* :class:`PLRNN` (Durstewitz 2017): ``A z + W φ(z̄) + h_0 + C s``;
* :class:`DendPLRNN` (Brenner et al., ICML 2022): ``A z + W Σ_b α_b φ(z̄ + θ_b) + h_0 + C s``;
* :class:`ClippedDendPLRNN` (Brenner et al. 2022/2024, the MTF default):
  ``A z + W Σ_b α_b [φ(z̄ + θ_b) − φ(z̄)] + h_0 + C s``;
* :class:`ShallowPLRNN` (Hess et al., ICML 2023): ``A z + W_1 φ(W_2 z + h_2) + h_1 + C s``;
* :class:`ClippedShallowPLRNN` (Hess et al. 2023):
  ``A z + W_1 [φ(W_2 z + h_2) − φ(W_2 z)] + h_1 + C s``.

``φ`` is the ReLU, ``A = diag(a)``, ``W`` has a zero diagonal and ``z̄ = z − mean_i z_i`` is the
mean-centred state ("layer norm" of the reference code), used *only inside* the nonlinearity.
Every variant has a closed-form :meth:`jacobian`, optional external inputs ``C s_t`` and an
optional latent noise ``z_t = F(z_{t-1}) + ε_t``, ``ε_t ~ N(0, diag(σ²))`` (state-space form;
:meth:`sample_step`, ``rollout(..., noise=True)``). :meth:`step` is always the noise-free map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyrodyn.dynamics.base import DynamicsModel, check_increment_factor


def normalized_positive_definite(m: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Talathi & Vartak (2016) initialisation ``(I + RᵀR / M) / λ_max``, ``R ~ N(0, 1)^{M×M}``.

    Returns:
        ``(M, M)`` symmetric positive-definite matrix with largest eigenvalue 1.
    """
    r = torch.randn(m, m, generator=generator)
    mat = torch.eye(m) + r.T @ r / m
    return mat / torch.linalg.eigvalsh(mat).abs().max()


class _PLRNNBase(DynamicsModel):
    """Shared parts: the diagonal ``A``, input matrix ``C``, latent noise and mean-centring.

    Args:
        latent_dim: M.
        input_dim: S, dimension of external inputs ``s_t`` (0 for none).
        mean_centering: centre ``z`` inside the nonlinearity.
        noise_scale: initial latent noise σ (None for a deterministic map).
        learn_noise: make σ a trainable parameter (per unit).
    """

    def __init__(
        self,
        latent_dim: int,
        input_dim: int = 0,
        *,
        mean_centering: bool = True,
        noise_scale: float | None = None,
        learn_noise: bool = False,
    ) -> None:
        super().__init__(latent_dim, input_dim)
        self.mean_centering = bool(mean_centering)
        if noise_scale is not None and not noise_scale > 0:
            raise ValueError(f"noise_scale must be positive or None, got {noise_scale}")
        self.C = (
            nn.Parameter(torch.randn(self.latent_dim, self.input_dim)) if self.input_dim else None
        )
        if noise_scale is None:
            self.log_noise_scale = None
        else:
            log_s = torch.full((self.latent_dim,), math.log(float(noise_scale)))
            if learn_noise:
                self.log_noise_scale = nn.Parameter(log_s)
            else:
                self.register_buffer("log_noise_scale", log_s)

    # ------------------------------------------------------------------ shared pieces
    @property
    def noise_scale(self) -> Tensor | None:
        """Latent noise standard deviation ``(M,)`` (None for a deterministic model)."""
        return None if self.log_noise_scale is None else self.log_noise_scale.exp()

    @torch.no_grad()
    def scale_increment(self, factor: float) -> None:
        """Folds ``z + f (F(z) - z)`` into the parameters (see the base class).

        ``A <- 1 - f + f A``; the other terms of ``F`` (the output side of the hidden weights,
        the bias, ``C``) are multiplied by ``f``.
        """
        f = check_increment_factor(factor)
        self._fold_increment(f)
        if self.C is not None:
            self.C.mul_(f)

    def _fold_increment(self, f: float) -> None:
        # abstract: every concrete variant folds its own output-side parameters
        raise NotImplementedError(f"{type(self).__name__} cannot rescale its increment")

    def _centre(self, z: Tensor) -> Tensor:
        return z - z.mean(-1, keepdim=True) if self.mean_centering else z

    def _centre_jac(self, g: Tensor) -> Tensor:
        """``g P`` for ``g (..., M, M)`` and the centring projection ``P = I − 11ᵀ/M``."""
        if not self.mean_centering:
            return g
        return g - g.mean(-1, keepdim=True)

    def _inputs(self, out: Tensor, u: Tensor | None) -> Tensor:
        if self.C is None:
            if u is not None and u.shape[-1] > 0:
                raise ValueError(
                    f"{type(self).__name__} was built with input_dim=0 but got inputs of shape "
                    f"{tuple(u.shape)}"
                )
            return out
        if u is None:
            raise ValueError(f"{type(self).__name__} has input_dim {self.input_dim}; pass inputs")
        if u.shape[-1] != self.input_dim:
            raise ValueError(
                f"inputs must have last dim input_dim={self.input_dim}, got {tuple(u.shape)}"
            )
        return out + u @ self.C.T

    def diag_a(self) -> Tensor:
        """The diagonal of ``A``: ``(M,)`` (each variant parameterises it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement diag_a() (abstract)")

    def sample_step(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """One stochastic transition ``F(z, u) + ε`` ``(..., M)`` (``F`` alone without noise)."""
        out = self.step(z, u)
        s = self.noise_scale
        return out if s is None else out + s * torch.randn_like(out)

    def rollout(
        self, init: Tensor, num_steps: int, inputs: Tensor | None = None, *, noise: bool = False
    ) -> Tensor:
        """Free run ``z_1 .. z_n`` ``(..., n, M)`` from ``init`` ``(..., M)``.

        Args:
            init: ``(..., M)``.
            num_steps: n >= 0.
            inputs: ``(..., n, S)``.
            noise: add the latent noise at every step (state-space form).
        """
        if not noise or self.log_noise_scale is None:
            return super().rollout(init, num_steps, inputs)
        self._check_state(init)
        if num_steps < 0:
            raise ValueError(f"num_steps must be >= 0, got {num_steps}")
        z, out = init, []
        for k in range(num_steps):
            z = self.sample_step(z, None if inputs is None else inputs[..., k, :])
            out.append(z)
        if not out:
            return init.new_zeros((*init.shape[:-1], 0, self.latent_dim))
        return torch.stack(out, dim=-2)

    def contraction_bound(self) -> Tensor:
        """Upper bound on the Lipschitz constant of the map (``< 1``: orbits stay bounded)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement contraction_bound() (abstract)"
        )

    def bounded_orbits(self) -> bool:
        """Whether the parameters satisfy the variant's sufficient condition for bounded orbits."""
        return bool(self.contraction_bound() < 1)


class PLRNN(_PLRNNBase):
    """Vanilla PLRNN ``z_t = A z + W φ(z̄) + h_0 + C s_t`` (Durstewitz 2017).

    ``A`` and ``W`` are stored as one matrix ``AW`` (``A = diag(AW)``, ``W = AW − diag(A)``),
    initialised as :func:`normalized_positive_definite`; ``h_0 ~ U(±1/√M)``, ``C ~ N(0, 1)``.
    Bounded orbits when ``max|a| + ‖W‖₂ < 1``.

    Args:
        latent_dim: M.
        input_dim: S (0 for no inputs).
        mean_centering: centre ``z`` inside ``φ`` (on by default, as in the MTF code).
        noise_scale: latent noise σ (None: deterministic).
        learn_noise: trainable σ.
    """

    def __init__(
        self,
        latent_dim: int,
        input_dim: int = 0,
        *,
        mean_centering: bool = True,
        noise_scale: float | None = None,
        learn_noise: bool = False,
    ) -> None:
        super().__init__(
            latent_dim,
            input_dim,
            mean_centering=mean_centering,
            noise_scale=noise_scale,
            learn_noise=learn_noise,
        )
        m = self.latent_dim
        self.AW = nn.Parameter(normalized_positive_definite(m))
        self.h = nn.Parameter(torch.empty(m).uniform_(-1 / math.sqrt(m), 1 / math.sqrt(m)))
        self.register_buffer("_offdiag", 1.0 - torch.eye(m), persistent=False)

    def diag_a(self) -> Tensor:
        """``(M,)``."""
        return torch.diagonal(self.AW)

    def weight_w(self) -> Tensor:
        """``W`` with zero diagonal ``(M, M)``."""
        return self.AW * self._offdiag

    def _fold_increment(self, f: float) -> None:
        # diag(AW) is A and the rest W: A <- 1 - f + f A and W <- f W in one update
        self.AW.mul_(f).add_(
            (1.0 - f) * torch.eye(self.latent_dim, dtype=self.AW.dtype, device=self.AW.device)
        )
        self.h.mul_(f)

    def _nonlinearity(self, zc: Tensor) -> Tensor:
        return F.relu(zc)

    def _nonlinearity_grad(self, zc: Tensor) -> Tensor:
        return (zc > 0).to(zc.dtype)

    def step(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """``(..., M) -> (..., M)`` with inputs ``(..., S)``."""
        out = self.diag_a() * z + self._nonlinearity(self._centre(z)) @ self.weight_w().T + self.h
        return self._inputs(out, u)

    def jacobian(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """Closed form ``A + W diag(φ'(z̄)) P`` at every state: ``(..., M) -> (..., M, M)``."""
        self._check_state(z)
        d = self._nonlinearity_grad(self._centre(z))
        g = self.weight_w() * d.unsqueeze(-2)
        return torch.diag_embed(self.diag_a().expand_as(z)) + self._centre_jac(g)

    def _slope_bound(self) -> Tensor:
        return self.AW.new_tensor(1.0)

    def contraction_bound(self) -> Tensor:
        """``max|a| + ‖W‖₂ · L_φ`` (``L_φ`` the Lipschitz constant of the basis expansion)."""
        w = torch.linalg.matrix_norm(self.weight_w().detach(), ord=2)
        return self.diag_a().detach().abs().max() + w * self._slope_bound().detach()


class DendPLRNN(PLRNN):
    """Dendritic PLRNN ``z_t = A z + W Σ_b α_b φ(z̄ + θ_b) + h_0 + C s_t`` (Brenner et al. 2022).

    ``θ ~ N(0, 1)^{M×B}`` (``h_b = −θ_{:,b}``), ``α ~ U(±1/√B)`` shared across units.
    Bounded orbits when ``max|a| + ‖W‖₂ Σ_b|α_b| < 1``.

    Args:
        latent_dim: M.
        num_bases: B.
        input_dim: S (0 for no inputs).
        mean_centering: centre ``z`` inside ``φ`` (on by default).
        noise_scale: latent noise σ (None: deterministic).
        learn_noise: trainable σ.
    """

    def __init__(
        self,
        latent_dim: int,
        num_bases: int = 5,
        input_dim: int = 0,
        *,
        mean_centering: bool = True,
        noise_scale: float | None = None,
        learn_noise: bool = False,
    ) -> None:
        if int(num_bases) < 1:
            raise ValueError(f"num_bases must be >= 1, got {num_bases}")
        super().__init__(
            latent_dim,
            input_dim,
            mean_centering=mean_centering,
            noise_scale=noise_scale,
            learn_noise=learn_noise,
        )
        b = int(num_bases)
        self.num_bases = b
        self.thresholds = nn.Parameter(torch.randn(self.latent_dim, b))
        self.alpha = nn.Parameter(torch.empty(b).uniform_(-1 / math.sqrt(b), 1 / math.sqrt(b)))

    def _nonlinearity(self, zc: Tensor) -> Tensor:
        return F.relu(zc.unsqueeze(-1) + self.thresholds) @ self.alpha

    def _nonlinearity_grad(self, zc: Tensor) -> Tensor:
        active = (zc.unsqueeze(-1) + self.thresholds > 0).to(zc.dtype)
        return active @ self.alpha

    def _slope_bound(self) -> Tensor:
        return self.alpha.abs().sum()


class ClippedDendPLRNN(DendPLRNN):
    """Clipped dendritic PLRNN, the MTF default (Brenner et al. 2022, 2024).

    ``z_t = A z + W Σ_b α_b [φ(z̄ + θ_b) − φ(z̄)] + h_0 + C s_t``: every basis term is bounded by
    ``|θ_b|``, so orbits stay bounded whenever ``max|a| < 1``.

    Args:
        latent_dim: M.
        num_bases: B.
        input_dim: S (0 for no inputs).
        mean_centering: centre ``z`` inside ``φ`` (on by default).
        noise_scale: latent noise σ (None: deterministic).
        learn_noise: trainable σ.
    """

    def _nonlinearity(self, zc: Tensor) -> Tensor:
        # Σ_b α_b φ(z̄ + θ_b) − (Σ_b α_b) φ(z̄), without materialising a second (…, M, B) tensor
        basis = F.relu(zc.unsqueeze(-1) + self.thresholds) @ self.alpha
        return basis - self.alpha.sum() * F.relu(zc)

    def _nonlinearity_grad(self, zc: Tensor) -> Tensor:
        active = (zc.unsqueeze(-1) + self.thresholds > 0).to(zc.dtype)
        return active @ self.alpha - self.alpha.sum() * (zc > 0).to(zc.dtype)

    def contraction_bound(self) -> Tensor:
        """``max|a|``: the basis terms are bounded, so ``< 1`` keeps orbits bounded."""
        return self.diag_a().detach().abs().max()


class ShallowPLRNN(_PLRNNBase):
    """Shallow PLRNN ``z_t = A z + W_1 φ(W_2 z + h_2) + h_1 + C s_t`` (Hess et al., ICML 2023).

    ``A`` is the diagonal of :func:`normalized_positive_definite`, ``W_1 ~ U(±1/√L)``,
    ``W_2 ~ U(±1/√M)``, ``h_2 ~ U(±1/√M)``, ``h_1 = 0``. No mean-centring by default (the GTF
    formulation). Bounded orbits when ``max|a| + ‖W_1‖₂ ‖W_2‖₂ < 1``.

    Args:
        latent_dim: M.
        hidden_dim: L, width of the hidden ReLU layer.
        input_dim: S (0 for no inputs).
        mean_centering: centre ``z`` before ``W_2``.
        noise_scale: latent noise σ (None: deterministic).
        learn_noise: trainable σ.
    """

    def __init__(
        self,
        latent_dim: int,
        hidden_dim: int = 100,
        input_dim: int = 0,
        *,
        mean_centering: bool = False,
        noise_scale: float | None = None,
        learn_noise: bool = False,
    ) -> None:
        if int(hidden_dim) < 1:
            raise ValueError(f"hidden_dim must be >= 1, got {hidden_dim}")
        super().__init__(
            latent_dim,
            input_dim,
            mean_centering=mean_centering,
            noise_scale=noise_scale,
            learn_noise=learn_noise,
        )
        m, hid = self.latent_dim, int(hidden_dim)
        self.hidden_dim = hid
        self.a = nn.Parameter(torch.diagonal(normalized_positive_definite(m)).clone())
        self.W1 = nn.Parameter(
            torch.empty(m, hid).uniform_(-1 / math.sqrt(hid), 1 / math.sqrt(hid))
        )
        self.W2 = nn.Parameter(torch.empty(hid, m).uniform_(-1 / math.sqrt(m), 1 / math.sqrt(m)))
        self.h1 = nn.Parameter(torch.zeros(m))
        self.h2 = nn.Parameter(torch.empty(hid).uniform_(-1 / math.sqrt(m), 1 / math.sqrt(m)))

    def diag_a(self) -> Tensor:
        """``(M,)``."""
        return self.a

    def _fold_increment(self, f: float) -> None:
        self.a.mul_(f).add_(1.0 - f)
        self.W1.mul_(f)
        self.h1.mul_(f)

    def _hidden(self, pre: Tensor) -> Tensor:
        return F.relu(pre + self.h2)

    def _hidden_grad(self, pre: Tensor) -> Tensor:
        return (pre + self.h2 > 0).to(pre.dtype)

    def step(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """``(..., M) -> (..., M)`` with inputs ``(..., S)``."""
        pre = self._centre(z) @ self.W2.T
        out = self.a * z + self._hidden(pre) @ self.W1.T + self.h1
        return self._inputs(out, u)

    def jacobian(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """Closed form ``A + W_1 diag(φ'(·)) W_2 P``: ``(..., M) -> (..., M, M)``."""
        self._check_state(z)
        d = self._hidden_grad(self._centre(z) @ self.W2.T)
        g = (self.W1 * d.unsqueeze(-2)) @ self.W2
        return torch.diag_embed(self.a.expand_as(z)) + self._centre_jac(g)

    def contraction_bound(self) -> Tensor:
        """``max|a| + ‖W_1‖₂ ‖W_2‖₂``."""
        n1 = torch.linalg.matrix_norm(self.W1.detach(), ord=2)
        n2 = torch.linalg.matrix_norm(self.W2.detach(), ord=2)
        return self.a.detach().abs().max() + n1 * n2


class ClippedShallowPLRNN(ShallowPLRNN):
    """Clipped shallow PLRNN ``A z + W_1 [φ(W_2 z + h_2) − φ(W_2 z)] + h_1 + C s_t`` (Hess 2023).

    The hidden term is bounded by ``|h_2|``, so orbits stay bounded whenever ``max|a| < 1``.

    Args:
        latent_dim: M.
        hidden_dim: L.
        input_dim: S (0 for no inputs).
        mean_centering: centre ``z`` before ``W_2``.
        noise_scale: latent noise σ (None: deterministic).
        learn_noise: trainable σ.
    """

    def _hidden(self, pre: Tensor) -> Tensor:
        return F.relu(pre + self.h2) - F.relu(pre)

    def _hidden_grad(self, pre: Tensor) -> Tensor:
        return (pre + self.h2 > 0).to(pre.dtype) - (pre > 0).to(pre.dtype)

    def contraction_bound(self) -> Tensor:
        """``max|a|``."""
        return self.a.detach().abs().max()

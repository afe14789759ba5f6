"""Query-time dynamics: an instance code and a time offset map straight to a latent state.

LaDID (Lagemann, Lagemann & Mukherjee, "Invariance-based Learning of Latent Dynamics", ICLR 2024;
arXiv 2306.12077) replaces an ODE solver by one universal network ``z(t) = F(psi, phi(t - t0))``:
``psi`` is the instance code (initial condition and constants of one realisation), ``phi`` a
multi-frequency sinusoidal encoding of the time since the start of the context window. All query
times are evaluated in parallel; nothing is fed back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from pyrodyn.dynamics.base import DynamicsModel


class SinusoidalTimeEncoding(nn.Module):
    """``phi(dt) = [sin(w_j dt), cos(w_j dt)]_j`` with geometrically spaced periods.

    Periods are ``P_j = max_period * 2**(-s_j)`` with ``s_j`` evenly spaced in ``[0, octaves]``
    (LaDID: 16 frequencies, 8 octaves, ``max_period`` twice the training span). The slowest pair,
    the only one that resolves times on the scale of the training window, takes the same value
    at ``dt`` and ``dt + max_period`` (the whole encoding is exactly periodic when every period
    divides ``max_period``, e.g. ``octaves = num_frequencies - 1``; with LaDID's 16 frequencies
    over 8 octaves the fast pairs are incommensurate, but none of them can tell ``dt`` from
    ``dt + max_period`` at the window's scale either). Offsets outside ``[0, max_period)`` are
    therefore refused instead of silently aliased (the reference wraps around without warning).

    Args:
        max_period: the largest period, in data time units.
        num_frequencies: number of sin/cos pairs (output size ``2 * num_frequencies``).
        octaves: ``log2`` of the ratio between the largest and the smallest period.
    """

    def __init__(self, max_period: float, num_frequencies: int = 16, octaves: float = 8.0) -> None:
        super().__init__()
        if not (isinstance(max_period, (int, float)) and math.isfinite(max_period)) or (
            max_period <= 0
        ):
            raise ValueError(f"max_period must be a positive finite number, got {max_period!r}")
        if int(num_frequencies) < 1:
            raise ValueError(f"num_frequencies must be >= 1, got {num_frequencies}")
        if octaves < 0:
            raise ValueError(f"octaves must be >= 0, got {octaves}")
        self.max_period = float(max_period)
        self.num_frequencies = int(num_frequencies)
        self.octaves = float(octaves)
        s = torch.linspace(0.0, self.octaves, self.num_frequencies)
        periods = self.max_period * torch.pow(2.0, -s)
        self.register_buffer("omega", 2.0 * math.pi / periods, persistent=False)

    @property
    def output_dim(self) -> int:
        """Size of the encoding, ``2 * num_frequencies``."""
        return 2 * self.num_frequencies

    def check(self, dt: Tensor) -> None:
        """Raises ``ValueError`` for offsets outside ``[0, max_period)`` (where phi aliases)."""
        if dt.numel() == 0:
            return
        lo, hi = float(dt.detach().min()), float(dt.detach().max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError("query time offsets must be finite, got NaN or inf")
        if lo < -1e-6 * self.max_period:
            raise ValueError(
                f"query time offset {lo:.6g} lies before the window start; offsets must lie in "
                f"[0, {self.max_period:.6g}) (queries before t0 alias onto later times)"
            )
        if hi >= self.max_period * (1 - 1e-6):
            raise ValueError(
                f"query time offset {hi:.6g} reaches the time encoding's largest period "
                f"{self.max_period:.6g}, where the encoding wraps around and the time is "
                "indistinguishable from an earlier one; query at most "
                f"{self.max_period:.6g} after the window start or build the dynamics with a "
                "larger max_period"
            )

    def forward(self, dt: Tensor) -> Tensor:
        """``(...,)`` offsets -> ``(..., 2 * num_frequencies)`` features."""
        self.check(dt)
        arg = dt.unsqueeze(-1).to(self.omega.dtype) * self.omega
        return torch.cat([torch.sin(arg), torch.cos(arg)], -1).to(dt.dtype)


class QueryDynamics(DynamicsModel):
    """``z(t0 + dt) = F([psi ; phi(dt)])``: LaDID's universal query-time dynamics.

    ``path(psi, times)`` evaluates every query time at once; ``times`` are offsets from the
    window start ``t0`` (or absolute times together with ``origin``). There is no step map: use a
    discrete-time model (PLRNN, ...) when free-running generation is wanted; both serve the same
    ``path`` interface.

    Args:
        code_dim: K, size of the instance code psi.
        latent_dim: M, size of the latent state z (LaDID: ``M = K``).
        max_period: largest period of the time encoding in data time units (LaDID: twice the
            training span); queries beyond it raise.
        num_frequencies: sin/cos pairs of the time encoding.
        octaves: period range of the time encoding (``log2`` of largest / smallest).
        hidden: widths of F's hidden layers (LaDID: 256, 256).
        dropout: dropout after each hidden layer (LaDID: 0.5).
        activation: activation module class.
        time_scale: None (LaDID) or r > 1: each instance runs on its own clock, ``F(psi,
            phi(s(psi) dt))`` with ``s(psi) = r ** tanh(w . psi + b)`` in ``(1/r, r)``, a learned
            *linear* read-out of the code. Constants that set an instance's natural time scale
            (a pendulum's sqrt(g/L)) then have a linear route into the code, ``log s`` (a
            pyrodyn extension, not in the paper). The encoding is built with periods ``r``
            times longer so that no admissible query ``dt < max_period`` wraps around.
        rate_features: with ``time_scale``, the clock reads only ``psi[..., :rate_features]``
            (e.g. the constants part of a split LaDID code, so that the initial state cannot
            set the clock); None reads all of psi.
    """

    def __init__(
        self,
        code_dim: int,
        latent_dim: int,
        max_period: float,
        num_frequencies: int = 16,
        octaves: float = 8.0,
        hidden: Sequence[int] = (256, 256),
        dropout: float = 0.5,
        activation: type[nn.Module] = nn.ReLU,
        time_scale: float | None = None,
        rate_features: int | None = None,
    ) -> None:
        super().__init__(latent_dim)
        if int(code_dim) < 1:
            raise ValueError(f"code_dim must be >= 1, got {code_dim}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if time_scale is not None and not float(time_scale) > 1.0:
            raise ValueError(f"time_scale must be None or a ratio r > 1, got {time_scale!r}")
        if rate_features is not None and time_scale is None:
            raise ValueError("rate_features needs time_scale (it selects what the clock reads)")
        if rate_features is not None and not 1 <= int(rate_features) <= int(code_dim):
            raise ValueError(
                f"rate_features must lie in [1, code_dim = {code_dim}], got {rate_features}"
            )
        self.code_dim = int(code_dim)
        self.rate_features = self.code_dim if rate_features is None else int(rate_features)
        self.time_scale = None if time_scale is None else float(time_scale)
        r = 1.0 if self.time_scale is None else self.time_scale
        # the guard on raw offsets: dt < max_period, hence s * dt < r * max_period
        self.query_guard = SinusoidalTimeEncoding(max_period, 1, 0.0)
        self.encoding = SinusoidalTimeEncoding(max_period * r, num_frequencies, octaves)
        self.log_rate = None
        if self.time_scale is not None:
            self.log_rate = nn.Linear(self.rate_features, 1)
            # start on the common clock (s = 1)
            nn.init.zeros_(self.log_rate.weight)
            nn.init.zeros_(self.log_rate.bias)
        layers: list[nn.Module] = []
        width = self.code_dim + self.encoding.output_dim
        for h in hidden:
            layers += [nn.Linear(width, int(h)), activation()]
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            width = int(h)
        layers.append(nn.Linear(width, self.latent_dim))
        self.net = nn.Sequential(*layers)

    @property
    def max_period(self) -> float:
        """Queries must lie in ``[0, max_period)`` (the time encoding's period, over r)."""
        return self.query_guard.max_period

    def rate(self, code: Tensor) -> Tensor:
        """The instance clock rate ``s(psi)`` ``(..., 1)`` (ones without ``time_scale``)."""
        if self.log_rate is None:
            return torch.ones_like(code[..., :1])
        return torch.pow(
            self.time_scale, torch.tanh(self.log_rate(code[..., : self.rate_features]))
        )

    def step(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """Not defined: a query-time model has no transition map."""
        raise TypeError(
            "QueryDynamics maps (code, time offset) to a state and has no step map; use path(), "
            "or a discrete-time DynamicsModel (e.g. a PLRNN) for free-running rollouts"
        )

    def path(
        self,
        init: Tensor,
        times: Tensor | int,
        inputs: Tensor | None = None,
        *,
        origin: Tensor | None = None,
    ) -> Tensor:
        """States at query times, all in parallel.

        Args:
            init: instance codes psi ``(..., K)``.
            times: query offsets from the window start, ``(Q,)`` shared or ``(..., Q)`` per code;
                an int n means offsets ``0, 1, ..., n - 1``. With ``origin``, absolute times.
            inputs: unsupported (LaDID dynamics are autonomous); must be None.
            origin: window start times ``(...)`` subtracted from ``times``.

        Returns:
            ``(..., Q, M)``.
        """
        if inputs is not None:
            raise ValueError("QueryDynamics is autonomous and takes no inputs; pass inputs=None")
        if init.shape[-1] != self.code_dim:
            raise ValueError(
                f"QueryDynamics expects codes with last dim {self.code_dim}, got shape "
                f"{tuple(init.shape)}"
            )
        if isinstance(times, int):
            times = torch.arange(times, device=init.device, dtype=init.dtype)
        t = torch.as_tensor(times, device=init.device).to(init.dtype)
        if t.dim() == 0:
            raise ValueError("times must have a query axis (Q,) or (..., Q), got a scalar")
        if origin is not None:
            t = t - torch.as_tensor(origin, device=init.device).to(init.dtype).unsqueeze(-1)
        lead = init.shape[:-1]
        try:
            shape = torch.broadcast_shapes(lead, t.shape[:-1])
        except RuntimeError:
            raise ValueError(
                f"times {tuple(t.shape)} do not broadcast against codes {tuple(init.shape)}: "
                "expected (Q,) or (..., Q) with the codes' leading shape"
            ) from None
        q = t.shape[-1]
        t = t.expand(*shape, q)
        self.query_guard.check(t)
        if self.log_rate is not None:
            t = t * self.rate(init).expand(*shape, 1)
        phi = self.encoding(t)
        code = init.expand(*shape, self.code_dim).unsqueeze(-2).expand(*shape, q, self.code_dim)
        return self.net(torch.cat([code, phi], -1))

    def jacobian(self, z: Tensor, u: Tensor | None = None) -> Tensor:
        """Not defined (no step map)."""
        raise TypeError("QueryDynamics has no step map, hence no step Jacobian")


__all__ = ["QueryDynamics", "SinusoidalTimeEncoding"]

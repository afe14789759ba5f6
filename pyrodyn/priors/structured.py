"""A structured guide family: a Gaussian over the whole trajectory with Markov structure.

Mean-field treats the steps of a ``(B, T, D)`` trajectory as independent given the data. The
posterior of a Markov prior is itself a Markov chain, and written backwards,
``p(z | x) = p(z_T | x) prod_t p(z_t | z_{t+1}, x)``, each conditional depends on the data only
through ``x_{1:t}`` (given ``z_{t+1}``, the future observations tell nothing more about ``z_t``).
:class:`StructuredMarkov` therefore runs a *forward* GRU over the encoder's per-step Gaussians
(the filtering direction) and reads off, per step, the parameters of a
:class:`~pyrodyn.distributions.markov_gaussian.MarkovGaussian`: a mean offset, a lower-triangular
conditional scale and a ``D x D`` coupling to ``z_{t+1}``. A forward GRU also keeps padding out
of the valid steps of short sequences. The heads start at zero, so an untrained structured guide
is the mean-field guide of the same encoder.

Reference: R. G. Krishnan, U. Shalit and D. Sontag, "Structured inference networks for nonlinear
state space models", AAAI 2017 (there the chain runs forwards, conditioned on the future).
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import Tensor, nn

from pyrodyn.distributions.markov_gaussian import MarkovGaussian
from pyrodyn.priors.base import LatentPrior, PriorContext
from pyrodyn.priors.guide import GuideFamily, MeanField


class StructuredMarkov(GuideFamily):
    """Backward-Markov Gaussian over a time-domain ``(T, D)`` site, amortised by a GRU.

    Per step ``t`` the GRU state ``h_t`` (over ``[loc, log scale]`` of steps ``1..t``) and the
    step's own ``loc_t, scale_t`` give ``m_t = loc_t + a_t``, ``L_t = diag(scale_t e^{c_t}) +
    strict_lower(S_t)`` and ``J_t`` (all of ``a, c, S, J`` linear in ``[h_t, loc_t, log
    scale_t]``, zero at initialisation).

    Args:
        latent_dim: D.
        hidden_dim: GRU width.
        max_log_scale_change: bound on ``|c_t|`` (tanh), which keeps early training stable.
    """

    def __init__(
        self, latent_dim: int, hidden_dim: int = 32, max_log_scale_change: float = 5.0
    ) -> None:
        super().__init__()
        if int(latent_dim) < 1 or int(hidden_dim) < 1:
            raise ValueError(
                f"latent_dim and hidden_dim must be >= 1, got {latent_dim}, {hidden_dim}"
            )
        if not max_log_scale_change > 0:
            raise ValueError(f"max_log_scale_change must be > 0, got {max_log_scale_change}")
        d = self.latent_dim = int(latent_dim)
        self.max_log_scale_change = float(max_log_scale_change)
        self.rnn = nn.GRU(2 * d, int(hidden_dim), batch_first=True)
        self._tril = torch.tril_indices(d, d, offset=-1)
        self._sizes = (d, d, self._tril.shape[1], d * d)  # offset, log diag, strict lower, J
        self.head = nn.Linear(int(hidden_dim) + 2 * d, sum(self._sizes))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(
        self,
        prior: LatentPrior,
        loc: Tensor,
        scale: Tensor,
        ctx: PriorContext,
        weights: Tensor | None = None,
    ) -> dist.TorchDistribution:
        """A `MarkovGaussian` over ``prior``'s ``(T, D)`` site, batch ``(B,)``.

        Args:
            prior: a time-domain sequence prior (site = the latent trajectory).
            loc: ``(B, T, D)`` encoder means.
            scale: ``(B, T, D)`` encoder scales.
            ctx: the context (its lengths mask padding steps).
            weights: unused (the encoder has already seen the masks).

        Raises:
            ValueError: a static slot, another latent size, or a prior whose site is not the
                time-domain trajectory (e.g. Fourier coefficients).
        """
        if loc.dim() != 3 or ctx.num_steps is None:
            raise ValueError(
                "StructuredMarkov needs a sequence slot with (B, T, D) encoder outputs, got "
                f"loc of shape {tuple(loc.shape)}"
            )
        if loc.shape[-1] != self.latent_dim:
            raise ValueError(
                f"StructuredMarkov was built for latent_dim {self.latent_dim}, the encoder gives "
                f"{loc.shape[-1]}"
            )
        if type(prior).to_latent is not LatentPrior.to_latent:
            raise ValueError(
                f"StructuredMarkov needs a prior whose site is the (T, D) trajectory; "
                f"{type(prior).__name__} has its own parameterisation (use MeanField)"
            )
        b, t, d = loc.shape
        feats = torch.cat([loc, scale.log()], -1)
        h, _ = self.rnn(feats.to(self.head.weight.dtype))
        out = self.head(torch.cat([h.to(loc.dtype), feats], -1))
        offset, log_diag, lower, coupling = torch.split(out, self._sizes, -1)
        log_diag = self.max_log_scale_change * torch.tanh(log_diag / self.max_log_scale_change)
        tril = loc.new_zeros(b, t, d, d)
        tril[..., self._tril[0], self._tril[1]] = lower
        tril = tril + torch.diag_embed(scale * log_diag.exp())
        coupling = coupling[:, :-1].reshape(b, t - 1, d, d)
        return MarkovGaussian(loc + offset, tril, coupling, ctx.step_mask())


def guide_family(name: str, latent_dim: int) -> GuideFamily:
    """The guide family a config names: ``"mean_field"`` or ``"structured"``."""
    if name == "mean_field":
        return MeanField()
    if name == "structured":
        return StructuredMarkov(latent_dim)
    raise ValueError(f"guide_family must be 'mean_field' or 'structured', got {name!r}")


__all__ = ["StructuredMarkov", "guide_family"]

"""Categorical likelihood for class labels (index codes or one-hot vectors)."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.likelihoods._util import is_integer
from pyrodyn.likelihoods.base import Likelihood


class Categorical(Likelihood):
    """Multinomial logit over ``C`` classes for each of ``N`` channels.

    Observations are either index codes ``0..C-1`` shaped ``(batch, time, N)``
    (``feature_shape = (N,)``) or, with ``one_hot=True``, one-hot vectors shaped
    ``(batch, time, C)`` for one channel (``(batch, time, N, C)`` for several); one-hot is how the
    MTF symbolic data are stored (specs/mtf.md 1.3). For one-hot data a vector is scored as a
    whole, so it counts as observed only when all of its entries are (a partly missing one-hot
    vector carries no valid label) and the mask applies per time step.

    The decoder produces ``logits`` ``(N, C)``, or ``(N, C - 1)`` with ``reference_class=True``:
    the multinomial logit of MTF with the last class's logit fixed at 0,
    ``log p = log_softmax([eta_1, ..., eta_{C-1}, 0])`` (no max shift applied to only some terms,
    which is the reference's bug 3c, specs/mtf.md 1.7). For one channel in one-hot mode the
    channel axis is dropped (``(C,)`` / ``(C - 1,)``). The default prediction is the mode
    (argmax; a one-hot vector in one-hot mode).

    Args:
        num_categories: number of classes C >= 2.
        num_channels: number of independent label channels N.
        one_hot: observations are one-hot vectors instead of index codes.
        reference_class: fix the last class's logit at 0 (MTF parameterisation).
        name: modality name for error messages.
    """

    def __init__(
        self,
        num_categories: int,
        num_channels: int = 1,
        one_hot: bool = False,
        reference_class: bool = False,
        *,
        name: str | None = None,
    ) -> None:
        c, n = int(num_categories), int(num_channels)
        if c < 2:
            raise ValueError(f"num_categories must be >= 2, got {num_categories!r}")
        if n < 1:
            raise ValueError(f"num_channels must be >= 1, got {num_channels!r}")
        self.one_hot = bool(one_hot)
        if self.one_hot:
            shape: tuple[int, ...] = (c,) if n == 1 else (n, c)
        else:
            shape = (n,)
        super().__init__(shape, name=name)
        self.num_categories = c
        self.num_channels = n
        self.reference_class = bool(reference_class)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"logits": (N, C)}`` (``C - 1`` with a reference class; no N for one-hot N=1)."""
        k = self.num_categories - 1 if self.reference_class else self.num_categories
        if self.one_hot and self.num_channels == 1:
            return {"logits": (k,)}
        return {"logits": (self.num_channels, k)}

    def logits(self, params: Mapping[str, Tensor]) -> Tensor:
        """Normalised class log-probabilities ``(*batch, [N,] C)``."""
        eta = params["logits"]
        if self.reference_class:
            eta = torch.cat([eta, eta.new_zeros(()).expand(*eta.shape[:-1], 1)], dim=-1)
        return torch.log_softmax(eta, dim=-1)

    def distribution(
        self, params: Mapping[str, Tensor]
    ) -> dist.Categorical | dist.OneHotCategorical:
        """``Categorical`` (batch ``(*batch, N)``) or ``OneHotCategorical`` (event ``(C,)``)."""
        if self.one_hot:
            return dist.OneHotCategorical(logits=self.logits(params))
        return dist.Categorical(logits=self.logits(params))

    # ------------------------------------------------------------------ masking and validation
    def reduce_mask(self, mask: Tensor, ndim: int) -> Tensor:
        """A one-hot vector is observed only when all of its entries are."""
        while mask.dim() > ndim:
            mask = mask.all(-1)
        return mask

    def fill(self, obs: Tensor, mask: Tensor | None) -> Tensor:
        """Index codes: missing entries become 0; one-hot: missing vectors become class 0."""
        if mask is None or not self.one_hot:
            return super().fill(obs, mask)
        row = mask.all(-1, keepdim=True)
        first = torch.zeros_like(obs)
        first[..., 0] = 1
        return torch.where(row, obs, first)

    def check_support(self, obs: Tensor) -> Tensor:
        """Index codes in ``0..C-1``, or one-hot vectors (0/1 entries, exactly one 1)."""
        if not self.one_hot:
            return is_integer(obs) & (obs >= 0) & (obs <= self.num_categories - 1)
        binary = (obs == 0) | (obs == 1)
        row_ok = binary.all(-1, keepdim=True) & (obs.sum(-1, keepdim=True) == 1)
        return binary & row_ok

    def describe_support(self) -> str:
        """Codes or one-hot vectors."""
        c = self.num_categories
        if self.one_hot:
            return f"one-hot vectors over {c} classes (entries 0 or 1, exactly one 1 per vector)"
        return f"integer class codes 0..{c - 1}"

    def validation_mask(self, mask: Tensor | None) -> Tensor | None:
        """A one-hot vector is checked only when it is fully observed."""
        if mask is not None and self.one_hot:
            mask = mask.all(-1, keepdim=True).expand_as(mask)
        return mask

    # ------------------------------------------------------------------ predictions
    def mean(self, params: Mapping[str, Tensor]) -> Tensor:
        """Class probabilities (one-hot mode) or the expected code ``sum_k k p_k`` (index mode).

        The expected code is meaningful only for ordered codes; use :meth:`probs` otherwise.
        """
        p = self.probs(params)
        if self.one_hot:
            return p
        codes = torch.arange(self.num_categories, dtype=p.dtype, device=p.device)
        return (p * codes).sum(-1)

    def probs(self, params: Mapping[str, Tensor]) -> Tensor:
        """Class probabilities ``(*batch, [N,] C)``."""
        return self.logits(params).exp()

    def mode(self, params: Mapping[str, Tensor]) -> Tensor:
        """Most probable class: a code (float) or a one-hot vector; NaN for NaN logits."""
        lp = self.logits(params)
        k = lp.argmax(-1)
        bad = torch.isnan(lp).any(-1)  # argmax would report a NaN row as class 0
        if self.one_hot:
            out = torch.nn.functional.one_hot(k, self.num_categories).to(lp.dtype)
            return torch.where(bad[..., None], torch.nan, out)
        return torch.where(bad, torch.nan, k.to(lp.dtype))

    def sample(self, params: Mapping[str, Tensor]) -> Tensor:
        """One draw, as codes (float) or one-hot vectors, in the dtype of the logits."""
        return self.distribution(params).sample().to(params["logits"].dtype)

    def default_prediction(self, params: Mapping[str, Tensor]) -> Tensor:
        """The mode (argmax), as the MTF generator returns."""
        return self.mode(params)

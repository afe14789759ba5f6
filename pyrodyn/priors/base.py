"""The `LatentPrior` extension point and the context a prior may condition on."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch

SEQUENCE = "sequence"
STATIC = "static"


@dataclass(frozen=True)
class PriorContext:
    """Everything a prior may condition on.

    Attributes:
        num_sequences: batch size B.
        num_steps: T (None for static latents).
        times: time stamps ``(B, T)`` or None.
        lengths: valid length per sequence ``(B,)``; a prior must not extend over padding.
        inputs: external inputs ``(B, T, U)`` or None.
        posteriors: modality -> unimodal posterior (data-dependent priors such as MMVM use them).
        present: modality -> ``(B,)`` bool availability of each modality.
        like: a tensor whose device and dtype new tensors follow.
    """

    num_sequences: int
    num_steps: int | None = None
    times: Tensor | None = None
    lengths: Tensor | None = None
    inputs: Tensor | None = None
    posteriors: Mapping[str, dist.Distribution] | None = None
    present: Mapping[str, Tensor] | None = None
    like: Tensor | None = None

    @classmethod
    def of_batch(
        cls,
        batch: MultimodalBatch,
        *,
        slot: str = SEQUENCE,
        posteriors: Mapping[str, dist.Distribution] | None = None,
        present: Mapping[str, Tensor] | None = None,
    ) -> PriorContext:
        """The context a model fills from a batch for a slot of shape ``slot``.

        A sequence slot gets the batch's steps, times, lengths and inputs; a static slot gets no
        steps or lengths (its latent has no time axis) but keeps times and inputs a prior may
        condition on. ``posteriors`` / ``present``: the unimodal posteriors and availability
        (models with per-modality encoders fill them for data-dependent priors).
        """
        sequence = slot == SEQUENCE and not batch.static
        return cls(
            num_sequences=batch.num_sequences,
            num_steps=batch.num_steps if sequence else None,
            times=batch.times,
            lengths=batch.lengths if sequence else None,
            inputs=batch.inputs,
            posteriors=posteriors or None,
            present=present,
            like=next(iter(batch.obs.values())),
        )

    @property
    def device(self) -> torch.device:
        """Device for new tensors."""
        for t in (self.like, self.times, self.lengths, self.inputs):
            if t is not None:
                return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype for new tensors."""
        for t in (self.like, self.times, self.inputs):
            if t is not None and t.is_floating_point():
                return t.dtype
        return torch.get_default_dtype()

    def step_mask(self) -> Tensor | None:
        """``(B, T)`` bool of steps inside each sequence (None when there are no lengths)."""
        if self.lengths is None or self.num_steps is None:
            return None
        steps = torch.arange(self.num_steps, device=self.lengths.device)
        return steps < self.lengths[:, None]


class LatentPrior(PyroModule):
    """p(z) of one latent tensor; subclasses implement :meth:`distribution`.

    **The slot contract.** Every latent site of every model is a prior slot of one of two
    shapes: a *sequence* slot, whose latent is a ``(B, T, D)`` trajectory, or a *static* slot,
    whose latent is a ``(B, D)`` vector. A prior declares the shapes it serves
    (:attr:`slot_shapes`; :func:`check_slot` fails at construction naming the slot). Its
    distribution has batch shape ``(B,)`` (the sequence plate, opened by the composed model)
    and an event in the prior's own parameterisation: ``(T, D)`` or ``(D,)`` in the time domain,
    or e.g. Fourier coefficients ``(D, F)``, which :meth:`to_latent` maps to the slot's latent.
    The model fills the :class:`PriorContext` (times, lengths, inputs, and the unimodal
    posteriors for data-dependent priors, :attr:`needs_posteriors`).

    **The guide side.** A model's guide reaches a slot through one interface: per-step Gaussian
    pseudo-observations ``(B, [T,] D)`` from its encoder become a distribution over the prior's
    site through the guide family (:mod:`pyrodyn.priors.guide`; mean-field by default, which
    calls :meth:`posterior`). Priors in another parameterisation override :meth:`posterior`.

    Priors with several sites override :meth:`forward` instead.

    Args:
        latent_dim: D, the number of latent dimensions.
    """

    #: The slot shapes this prior serves: ``"sequence"`` ``(B, T, D)``, ``"static"`` ``(B, D)``.
    slot_shapes: ClassVar[frozenset[str]] = frozenset({SEQUENCE})
    #: Whether the prior needs the unimodal posteriors in its context (data-dependent priors).
    needs_posteriors: ClassVar[bool] = False
    #: Whether the density is proper (normalisable, with a sampler): data can be simulated from
    #: it (simulation-based calibration needs that); False for the flat prior.
    is_proper: ClassVar[bool] = True

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = int(latent_dim)

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """The prior over the site value, batch ``(B,)``; required unless forward is overridden."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement distribution(ctx) or override forward(ctx)"
        )

    @property
    def site_name(self) -> str:
        """Full name of the latent site (valid inside a running model or guide)."""
        return self._pyro_get_fullname("z")

    def forward(self, ctx: PriorContext) -> Tensor:
        """Samples the latent site from the prior; returns the latent ``(B, T, D)``/``(B, D)``."""
        value = pyro.sample(self.site_name, self.distribution(ctx))
        return self.to_latent(value, ctx)

    def to_latent(self, value: Tensor, ctx: PriorContext) -> Tensor:
        """Maps a site value to the latent in the time domain (identity by default)."""
        return value

    def posterior(
        self, loc: Tensor, scale: Tensor, ctx: PriorContext, weights: Tensor | None = None
    ) -> dist.TorchDistribution:
        """Element-wise mean-field posterior over the site's coordinates.

        Args:
            loc: ``(B, [T,] D)`` per-step Gaussian pseudo-observation means (encoder output).
            scale: ``(B, [T,] D)`` positive scales.
            ctx: the context.
            weights: ``(B, T)`` or ``(B, T, D)`` step weights (0: no data at that step; priors
                in the time domain ignore them: the encoder has already seen the masks).

        Returns:
            A distribution with batch shape ``(B, *site_shape)`` (event shape ``()``); the
            default is ``Normal(loc, scale)``, padded steps masked.
        """
        q = dist.Normal(loc, scale)
        mask = ctx.step_mask()
        if mask is not None and loc.dim() == 3:
            q = q.mask(mask[..., None].to(loc.device))
        return q

    def guide_distribution(
        self, loc: Tensor, scale: Tensor, ctx: PriorContext, weights: Tensor | None = None
    ) -> dist.TorchDistribution:
        """:meth:`posterior` with its site dims folded (batch ``(..., B)``): what a guide samples.

        The site of a time-domain prior is ``(T, D)`` for sequences and ``(D,)`` for static
        latents; leading sample dimensions of ``loc`` stay batch dimensions.
        """
        return self.posterior(loc, scale, ctx, weights).to_event(self.site_event_dims(ctx))

    def site_event_dims(self, ctx: PriorContext) -> int:
        """Number of event dims of the site: 2 for ``(T, D)`` (or ``(D, F)``), 1 for ``(D,)``."""
        return 1 if ctx.num_steps is None else 2

    def sample(self, ctx: PriorContext, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws latents outside of any Pyro trace: ``(*sample_shape, B, T, D)``."""
        return self.to_latent(self.distribution(ctx).sample(sample_shape), ctx)

    def log_prob(self, value: Tensor, ctx: PriorContext) -> Tensor:
        """Log density of site values ``(..., B, *site_shape)`` -> ``(..., B)``."""
        return self.distribution(ctx).log_prob(value)

    def continuation(self, prefix: Tensor, ctx: PriorContext) -> Tensor:
        """Draws the rest of a trajectory from the prior given its first steps.

        ``z_{n+1:T} ~ p(z_{n+1:T} | z_{1:n})`` for a time-domain sequence site (leave-future-out
        CV extends posterior draws of a prefix with it). Optional: priors with a tractable
        conditional implement it (a Markov prior iterates its transition).

        Args:
            prefix: ``(..., B, n, D)`` the first ``n`` steps (leading sample dims allowed).
            ctx: the context of the whole ``T > n`` steps.

        Returns:
            ``(..., B, T - n, D)``.

        Raises:
            NotImplementedError: the prior has no continuation (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} does not draw continuations")


def check_slot(
    prior: LatentPrior,
    slot: str,
    shape: str,
    latent_dim: int | None = None,
    owner: str = "",
    *,
    posteriors: bool = False,
) -> LatentPrior:
    """Checks that ``prior`` serves a slot; returns it.

    Args:
        prior: the prior given for the slot.
        slot: the slot's name (the model's argument), for the message.
        shape: ``"sequence"`` (latent ``(B, T, D)``) or ``"static"`` (``(B, D)``).
        latent_dim: the D the slot needs (None: any).
        owner: the model's name, for the message.
        posteriors: whether the model fills the slot's context with unimodal posteriors
            (``ctx.posteriors``), which data-dependent priors (:attr:`needs_posteriors`) read.

    Raises:
        TypeError: ``prior`` is not a `LatentPrior`.
        ValueError: the prior does not serve the slot's shape, has another ``latent_dim``, or
            needs posteriors the slot does not provide.
    """
    where = f"{owner} slot {slot!r}" if owner else f"slot {slot!r}"
    if not isinstance(prior, LatentPrior):
        raise TypeError(f"{where} needs a LatentPrior, got {type(prior).__name__}")
    if shape not in prior.slot_shapes:
        need = "(B, T, D) trajectories" if shape == SEQUENCE else "(B, D) vectors"
        raise ValueError(
            f"{where} is a {shape} slot (latents {need}); {type(prior).__name__} serves only "
            f"{sorted(prior.slot_shapes)} slots"
        )
    if latent_dim is not None and prior.latent_dim != int(latent_dim):
        raise ValueError(
            f"{where} needs latent_dim {int(latent_dim)}, {type(prior).__name__} has "
            f"{prior.latent_dim}"
        )
    if prior.needs_posteriors and not posteriors:
        raise ValueError(
            f"{where} provides no unimodal posteriors, and {type(prior).__name__} is built from "
            "them (a data-dependent prior needs a model with per-modality encoders, e.g. "
            "MultimodalVAE)"
        )
    return prior


class ExpandableOverSamples:
    """Mixin for whole-sequence distributions: ``expand`` adds leading sample dimensions.

    Pyro's vectorised plates (``Predictive(parallel=True)``, vectorised particles) expand a
    site's distribution to ``(*samples, B)``; the sequence batch ``B`` itself cannot change.
    Subclasses compute ``log_prob`` by broadcasting and sample with :attr:`batch_shape`.
    """

    def expand(self, batch_shape, _instance=None):  # noqa: D102
        batch_shape = torch.Size(batch_shape)
        own = self.batch_shape
        if batch_shape == own:
            return self
        if batch_shape[len(batch_shape) - len(own) :] != own:
            raise ValueError(
                f"{type(self).__name__} with batch {tuple(own)} cannot be expanded to "
                f"{tuple(batch_shape)}: only leading sample dimensions may be added"
            )
        new = copy.copy(self)
        new._batch_shape = batch_shape
        return new

"""Multiple-shooting baseline for latent dynamics (specs/mtf.md 3.3; Brenner et al., ICML 2024).

The recording is cut into shooting intervals of ``interval`` steps; each interval ``j`` of trial
``i`` owns a free initial state ``s_{i,j}`` (a parameter, no encoder). A training window that
starts inside interval ``j`` is explained by the *free* rollout of the dynamics from ``s_{i,j}``
(no teacher forcing), scored by the observation likelihood through shared decoders reading the
first K units, plus a continuity penalty ``w ‖ẑ_{(j+1)L} − s_{i,j+1}‖² / M`` that ties the end
of each shooting interval to the next node.

Windows locate their interval from their absolute start (``batch.absolute_times()[:, 0]``) and
trial index (``batch.index``), so the model must be built with the recording's length, ``dt``
and number of trials. The Pyro model has the observe sites of the free rollouts (``nll.<m>``)
and the continuity penalty as the factor ``continuity``; the guide is empty (the shooting nodes
are point estimates, parameters), so the objective is not an ELBO (``is_elbo = False``). The
penalty's weight is the recipe of :class:`MultipleShootingObjective` (``continuity_weight``, 1 as
in the reference); the loss per observed sequence step is the observation NLL averaged over
valid steps plus ``continuity_weight`` times the penalty averaged over windows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import pyro
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import Generates
from pyrodyn.models.mtf.objective import PYRO_ELBO_ARGS, check_options
from pyrodyn.nn.decoders import Decoder, LinearDecoder
from pyrodyn.objectives.elbo import TraceELBO

_OPTIONS = ("continuity_weight",)


class MultipleShootingObjective(TraceELBO):
    """``TraceELBO`` of the multiple-shooting pair with its recipe, ``continuity_weight``.

    Args:
        continuity_weight: weight of the continuity factor (1 as in the reference).
        options: the same option as a mapping (the keyword wins).
        **kwargs: Pyro ELBO arguments.

    Raises:
        TypeError: an unknown option.
        ValueError: a negative weight.
    """

    #: The model-config key the constructor took before the recipe moved here.
    legacy_model_keys: ClassVar[frozenset[str]] = frozenset(_OPTIONS)

    def __init__(
        self,
        *,
        continuity_weight: float | None = None,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        check_options(name, {k: 0 for k in set(kwargs) - set(PYRO_ELBO_ARGS)}, _OPTIONS)
        merged = {"continuity_weight": 1.0, **dict(options or {})}
        if continuity_weight is not None:
            merged["continuity_weight"] = continuity_weight
        check_options(name, merged, _OPTIONS)
        super().__init__(options={k: float(v) for k, v in merged.items()}, **kwargs)

    def prepare(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The option under the caller's value, validated."""
        args, kw = super().prepare(args, kwargs)
        unknown = sorted(set(kw) - set(_OPTIONS))
        if unknown:
            raise TypeError(
                f"MultipleShooting got unknown scheduled values {unknown}; it accepts "
                f"{list(_OPTIONS)}"
            )
        if float(kw["continuity_weight"]) < 0:
            raise ValueError(
                f"scheduled continuity_weight must be >= 0, got {kw['continuity_weight']}"
            )
        return args, kw


class MultipleShooting(GenerativeModel, Generates):
    """Free rollouts from learned shooting nodes with a continuity penalty.

    Args:
        likelihoods: modality -> likelihood.
        dynamics: latent map with M units.
        num_steps: length of the training recording (steps per trial).
        interval: L, steps per shooting interval.
        forcing_dim: K, units read by the decoders (default M).
        num_trials: trials of the training data.
        dt: sampling interval of the data's time stamps.
        decoders: modality -> decoder reading ``z_{1:K}`` (default linear).
    """

    is_elbo: ClassVar[bool] = False
    default_objective = MultipleShootingObjective

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        dynamics: DynamicsModel,
        num_steps: int,
        interval: int = 50,
        forcing_dim: int | None = None,
        *,
        num_trials: int = 1,
        dt: float = 1.0,
        decoders: Mapping[str, Decoder] | None = None,
    ) -> None:
        super().__init__(likelihoods)
        m = dynamics.latent_dim
        k = m if forcing_dim is None else int(forcing_dim)
        if not 1 <= k <= m:
            raise ValueError(f"forcing_dim K={k} must lie in [1, latent_dim M={m}]")
        if int(interval) < 1 or int(num_steps) < int(interval):
            raise ValueError(
                f"need 1 <= interval <= num_steps, got interval={interval}, num_steps={num_steps}"
            )
        if int(num_trials) < 1 or not dt > 0:
            raise ValueError(f"need num_trials >= 1 and dt > 0; got {num_trials}, {dt}")
        self.dynamics = dynamics
        self.forcing_dim, self.interval, self.dt = k, int(interval), float(dt)
        self.num_steps = int(num_steps)
        n_nodes = math.ceil(self.num_steps / self.interval)
        self.nodes = nn.Parameter(0.1 * torch.randn(int(num_trials), n_nodes, m))
        decoders = dict(decoders or {})
        self.decoders = nn.ModuleDict(
            {mod: decoders.get(mod) or LinearDecoder(k, lik) for mod, lik in likelihoods.items()}
        )

    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality from latents ``(..., M)`` (first K units read)."""
        if isinstance(latent, Mapping):
            latent = latent["latent"]
        u = latent[..., : self.forcing_dim]
        return {mod: self.decoders[mod](u) for mod in self.modalities}

    def _locate(self, batch: MultimodalBatch) -> tuple[Tensor, Tensor, Tensor]:
        """Trial, node index and offset of each window start ``(B,)``."""
        if batch.times is None:
            raise ValueError("MultipleShooting needs time stamps (batch.times) to find its nodes")
        start = torch.round(batch.absolute_times()[:, 0] / self.dt).long()
        trial = (
            torch.zeros_like(start) if batch.index is None else batch.index.to(start.device).long()
        )
        n_trials = self.nodes.shape[0]
        if (trial >= n_trials).any() or (start < 0).any() or (start >= self.num_steps).any():
            raise ValueError(
                f"window starts {start.tolist()[:5]} / trials {trial.tolist()[:5]} lie outside the "
                f"recording the model was built for ({n_trials} trials x {self.num_steps} steps)"
            )
        node = start // self.interval
        return trial, node, start - node * self.interval

    def _rollout(self, batch: MultimodalBatch) -> tuple[Tensor, Tensor]:
        trial, node, offset = self._locate(batch)
        t = batch.num_steps
        length = int(offset.max()) + t
        z0 = self.nodes[trial, node]
        states = torch.cat([z0.unsqueeze(1), self.dynamics.rollout(z0, length - 1)], 1)
        idx = offset[:, None] + torch.arange(t, device=offset.device)
        window = states[torch.arange(len(trial), device=offset.device)[:, None], idx]
        # continuity: the state L steps after the node versus the next node
        has_next = node + 1 < self.nodes.shape[1]
        nxt = self.nodes[trial, (node + 1).clamp_max(self.nodes.shape[1] - 1)]
        if self.interval <= length - 1:
            reach = states[:, self.interval]
        else:
            reach = self.dynamics.rollout(states[:, -1], self.interval - length + 1)[:, -1]
        gap = (reach - nxt).square().mean(-1) * has_next.to(reach.dtype)
        return window, gap

    def model(self, batch: MultimodalBatch, *, continuity_weight: float = 1.0) -> None:
        """Observe sites at the free rollouts and the continuity factor (nodes are parameters).

        The factor is scaled so that, per observed sequence step, it contributes
        ``continuity_weight`` times the penalty averaged over the windows.
        """
        if continuity_weight < 0:
            raise ValueError(f"continuity_weight must be >= 0, got {continuity_weight}")
        self.check_batch(batch)
        window, gap = self._rollout(batch)
        valid = batch.valid_steps()
        per_window = float(self.normaliser(batch)) / batch.num_sequences
        with self.plate(batch):
            step_mask = None if batch.lengths is None else valid
            self.observe(batch, self.decode(window), step_mask=step_mask)
            pyro.factor("continuity", -continuity_weight * per_window * gap)

    def guide(self, batch: MultimodalBatch, *, continuity_weight: float = 1.0) -> None:
        """No latent sites: the shooting nodes are point estimates.

        It opens no plate either: ``Predictive(parallel=True)`` guesses the plate nesting from
        the guide's sample sites, and an empty plate there would place its sample dimension on
        the sequence plate's.
        """

    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """The free rollouts over the batch windows ``{"latent": (B, T, M)}``."""
        with torch.no_grad():
            return {"latent": self._rollout(batch)[0]}

    def generate(
        self,
        num_steps: int,
        *,
        init: MultimodalBatch | None = None,
        num_trials: int = 1,
        burn_in: int = 0,
        prediction: str = "default",
    ) -> dict[str, Tensor]:
        """Free run from the node state of ``init``'s first step (node 0 of trial 0 without it).

        Returns:
            ``{modality: (trials, steps, *features), "latent": (trials, steps, M)}``.
        """
        if num_steps < 1 or burn_in < 0 or num_trials < 1:
            raise ValueError(
                f"need num_steps >= 1, burn_in >= 0, num_trials >= 1; got {num_steps}, "
                f"{burn_in}, {num_trials}"
            )
        with torch.no_grad():
            if init is None:
                z0 = self.nodes[0, 0].expand(num_trials, -1)
            else:
                first = self.encode(init)["latent"][:, 0]
                z0 = first[torch.arange(num_trials) % first.shape[0]]
            traj = torch.cat(
                [z0.unsqueeze(1), self.dynamics.rollout(z0, burn_in + num_steps - 1)], 1
            )[:, burn_in:]
            out = dict(self.predict(traj, prediction))
            out["latent"] = traj
            return out

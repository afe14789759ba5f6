"""The MTF reference code's loss with its quirks, for parity checks (specs/mtf.md 1.5, 1.7).

:class:`MTFReferenceObjective` is an objective of its own, computed from the parts of an
:class:`~pyrodyn.models.mtf.MTF` (encoders, forced rollout, decoders) rather than from the traces
of its model and guide, because the reference's loss is not a density of any model:

1. the encoder entropy enters with a ``+`` sign (``+Σ log σ`` per step, no constant);
2. the Gaussian NLL is ``½·SSE`` of the *first* sequence of the batch, summed over time, unit
   variance, no constant;
3. the ordinal labels of the reconstruction are the noised codes truncated to integers (codes
   below 1 become 2), drawn afresh in training mode;
4. ``L_lat`` is the squared error averaged over sequences, steps *and* latent units;
5. the input noise hits every channel the encoder sees, not only the continuous ones.

Every other term is averaged over its valid steps as in :class:`MTFObjective`. The loss it
reports is the reference total per observed sequence step (``model.loss`` divides by the
model's normaliser), with the terms named as in :class:`MTFObjective` (``kl.latent`` holds
``+Σ log σ``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from pyro.nn.module import pyro_method
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.likelihoods.ordinal import Ordinal
from pyrodyn.models.mtf.encoding import teacher_posterior
from pyrodyn.models.mtf.model import MTF
from pyrodyn.models.mtf.objective import MTFObjective
from pyrodyn.models.mtf.recipe import Recipe
from pyrodyn.objectives.elbo import LossOutput


def _reference_terms(model: Any, batch: MultimodalBatch, r: Recipe) -> dict[str, Tensor]:
    """The reference code's weighted terms, each averaged as it averages them."""
    model._check_training(batch)
    q, posts, present = teacher_posterior(model, batch, r.draws())
    reg = None
    if posts is not None:
        opts = {} if r.fusion_alpha is None else {"alpha": r.fusion_alpha}
        reg = model.fusion.regularizer(posts, present, **opts)
    z = q.rsample() if model.sample_latent else q.loc
    pred = model.rollout(z, batch.inputs, r.alpha)
    t, k = batch.num_steps, model.forcing_dim
    valid = batch.valid_steps()
    v_rec, v_next = valid.to(z.dtype), valid[:, 1:].to(z.dtype)
    n_rec, n_next = v_rec.sum().clamp_min(1), v_next.sum().clamp_min(1)
    params = model.decode(torch.cat([z, pred[:, :-1, :k]], 1))
    terms: dict[str, Tensor] = {}
    for mod in model.modalities:
        lik = model.likelihoods[mod]
        p_rec = {n: v[:, :t] for n, v in params[mod].items()}
        p_gen = {n: v[:, t:] for n, v in params[mod].items()}
        x, mask = batch.obs[mod], batch.mask[mod]
        w = model.modality_weights.get(mod, 1.0)
        if isinstance(lik, Gaussian):  # quirk 2 (this parity file only: the reference's class)
            rec = 0.5 * ((lik.mean(p_rec) - x) * mask)[0].square().sum()
            gen = 0.5 * ((lik.mean(p_gen) - x[:, 1:]) * mask[:, 1:])[0].square().sum()
        else:
            x_rec = x
            if isinstance(lik, Ordinal) and model.training:  # quirk 3
                noisy = torch.trunc(x + r.input_noise * torch.randn_like(x))
                x_rec = torch.where(noisy < 1, torch.full_like(x, 2.0), noisy)
            rec = -(lik.log_prob(p_rec, x_rec, mask) * v_rec).sum() / n_rec
            gen = -(lik.log_prob(p_gen, x[:, 1:], mask[:, 1:]) * v_next).sum() / n_next
        terms[f"nll.{mod}"] = r.rec_weight * w * rec
        terms[f"obs.{mod}"] = r.obs_weight * w * gen
    lat = ((z[:, 1:] - pred[:, :-1, :k]).square() * v_next[..., None]).sum() / (n_next * k)
    terms["lat"] = r.lat_weight * lat  # quirk 4
    log_scale = (q.scale.log().sum(-1) * v_rec).sum() / n_rec
    # quirk 1: + Σ log σ (0 for the posterior means, as the reference's sample_rec=0)
    terms["kl.latent"] = r.entropy_weight * (log_scale if model.sample_latent else 0 * log_scale)
    if reg is not None:
        terms["fusion"] = r.fusion_weight * (reg * v_rec).sum() / n_rec
    return terms


class MTFReferenceObjective(MTFObjective):
    """The reference code's MTF loss (quirks in the module docstring), for parity checks.

    Options as :class:`MTFObjective`; the input noise hits every channel. It evaluates the parts
    of ``model.model``'s owner (an MTF), not the traces of the pair, so it works with
    ``model.loss``, ``fit``, ``SVI`` and the ELBO module, but Pyro's ELBO machinery
    (particles, vectorisation) does not apply.
    """

    noise_every_channel = True

    def _owner(self, model: Callable) -> MTF:
        owner = getattr(model, "owner", None)
        if not isinstance(owner, MTF):
            raise TypeError(
                "MTFReferenceObjective evaluates an MTF's parts: pass model.model of an MTF "
                f"(got {type(model).__name__})"
            )
        return owner

    def loss_and_terms(
        self, model: Callable, guide: Callable, *args: Any, **kwargs: Any
    ) -> LossOutput:
        """The reference loss (summed over observed sequence steps) and its named terms."""
        owner = self._owner(model)
        args, kwargs = self.prepare(args, kwargs)
        recipe = Recipe.parse(kwargs, type(self).__name__)
        terms = pyro_method(_reference_terms)(owner, args[0], recipe)
        norm = float(owner.normaliser(args[0]))
        total = sum(terms.values()) * norm
        return LossOutput(total, {n: v.detach() * norm for n, v in terms.items()}, args, kwargs)

    def differentiable_loss(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any):
        """The reference loss as a differentiable scalar."""
        return self.loss_and_terms(model, guide, *args, **kwargs).loss

    def loss(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        """The reference loss as a float."""
        return float(self.differentiable_loss(model, guide, *args, **kwargs).detach())

    def loss_and_grads(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any):
        """The reference loss as a float, with its gradients accumulated."""
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())


__all__ = ["MTFReferenceObjective"]

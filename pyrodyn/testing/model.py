"""Smoke checks every composed `GenerativeModel` passes (used by a MODEL_CASES table)."""

from __future__ import annotations

from typing import Any

import pyro
import pyro.poutine as poutine
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.models.base import GenerativeModel


def check_model_guide(model: GenerativeModel, batch: MultimodalBatch, **scheduled: Any) -> None:
    """Traces model and guide and checks that they fit together.

    Every latent site of the model is covered by the guide, observe sites are scored with finite
    log-probabilities and the sequence plate has the batch size.
    """
    guide_tr = poutine.trace(model.guide).get_trace(batch, **scheduled)
    model_tr = poutine.trace(poutine.replay(model.model, trace=guide_tr)).get_trace(
        batch, **scheduled
    )
    latent = {
        n for n, s in model_tr.nodes.items() if s["type"] == "sample" and not s["is_observed"]
    }
    guided = {n for n, s in guide_tr.nodes.items() if s["type"] == "sample"}
    missing = latent - guided
    assert not missing, f"guide does not cover latent sites {sorted(missing)}"
    model_tr.compute_log_prob()
    observed = [s for s in model_tr.nodes.values() if s["type"] == "sample" and s["is_observed"]]
    assert observed, "the model has no observe site"
    for site in observed:
        assert torch.isfinite(site["log_prob_sum"]), f"non-finite log_prob at {site['name']}"
        assert site["fn"].batch_shape[-1:] in (torch.Size([batch.num_sequences]), torch.Size([]))


def check_svi_step(
    model: GenerativeModel, batch: MultimodalBatch, lr: float = 1e-3, **scheduled: Any
) -> float:
    """One optimiser step on ``model.loss``: finite loss, finite gradients, parameters move.

    Returns:
        The loss before the step.
    """
    total, terms = model.loss(batch, **scheduled)  # materialise lazily created parameters
    params = [p for p in model.parameters() if p.requires_grad]
    assert params, "the model has no trainable parameters"
    before = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=lr)
    opt.zero_grad()
    total.backward()
    assert torch.isfinite(total), f"loss is not finite: {total.item()}"
    for name, value in terms.items():
        assert torch.isfinite(torch.as_tensor(value)).all(), f"term {name} is not finite"
    for p in params:
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), "non-finite gradient"
    opt.step()
    moved = any(not torch.equal(b, p.detach()) for b, p in zip(before, params))
    assert moved, "no parameter changed after one optimiser step"
    pyro.clear_param_store()
    return float(total.detach())

"""Everything a fit does to the model before the optimizer exists.

Both launchers call :func:`check_inputs` at the boundary and :func:`prepare_model` before the
training loop starts (:func:`~pyrodyn.infer.fit` in its process, the data-parallel launcher in
the parent process, whose prepared model the ranks inherit):

1. the model moves to the device, is checked for stray tensors and put in training mode, and
   every batch of the data is validated against it (``model.check_batch``);
2. the global torch/Python/NumPy RNGs are seeded with ``seed`` (``pyro.set_rng_seed``);
3. one loss evaluation on a batch of its own stream (seed ``seed + 1``) creates parameters that
   a model or guide makes lazily on its first call (specs/ecosystem.md F.1), on borrowed RNG
   states; on several ranks it also back-propagates, to tell DDP whether a step leaves some
   parameters without gradient;
4. a fresh (not resumed) fit calls ``model.init_from_data(batch)`` once with the first training
   batch: the first draw of the training stream (seed ``seed``), read without advancing it, so
   step 1 trains on that same batch (on ``N`` ranks: the global batch of ``N * batch_size``
   sequences whose rows the ranks share); it runs on borrowed RNG states too. A resumed fit
   skips it: its parameters come from the checkpoint.

Steps 3 and 4 leave the training streams exactly where step 2 put them, so adding a data-dependent
initialisation to a model changes no random draw of its training.
"""

from __future__ import annotations

import logging
from typing import Any

import pyro
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.infer.checkpoint import forked_rng
from pyrodyn.infer.devices import check_model_devices
from pyrodyn.infer.optim import trainable_parameters
from pyrodyn.infer.options import FitOptions
from pyrodyn.infer.sampler import BatchSampler
from pyrodyn.models.base import GenerativeModel

logger = logging.getLogger(__name__)


def check_inputs(model: Any, data: Any, options: FitOptions) -> None:
    """Validates the model, the data and the options of a fit (before anything runs).

    Raises:
        TypeError: ``model`` is not a :class:`~pyrodyn.models.base.GenerativeModel`, or the
            data are neither a ``MultimodalDataset`` nor a ``MultimodalBatch``.
        ValueError: a bad option (:meth:`FitOptions.validate`).
    """
    if not isinstance(model, GenerativeModel):
        raise TypeError(
            "model must be a pyrodyn GenerativeModel (pyrodyn.models.base.GenerativeModel: "
            "model/guide, loss(batch, **scheduled) -> (total, terms)), got "
            f"{type(model).__name__}"
        )
    check_data("data", data)
    if options.valid_data is not None:
        check_data("valid_data", options.valid_data)
    options.validate()


def check_data(name: str, data: Any) -> None:
    """Raises a TypeError naming ``name`` unless ``data`` is a dataset or a batch."""
    if not isinstance(data, (MultimodalDataset, MultimodalBatch)):
        raise TypeError(
            f"{name} must be a MultimodalDataset or a MultimodalBatch, got {type(data).__name__}"
        )


def check_against_model(model: GenerativeModel, data: MultimodalDataset | MultimodalBatch) -> None:
    """``model.check_batch`` on the whole data (a dataset in chunks of 256 trials)."""
    if isinstance(data, MultimodalBatch):
        model.check_batch(data)
        return
    for i in range(0, data.num_trials, 256):
        model.check_batch(data.batch(torch.arange(i, min(i + 256, data.num_trials))))


def prepare_model(
    model: GenerativeModel,
    data: MultimodalDataset | MultimodalBatch,
    options: FitOptions,
    device: torch.device,
    world_size: int = 1,
) -> list[str]:
    """Steps 1-4 of the module docstring; run with module-local parameters.

    Args:
        model: the model to fit.
        data: the training data.
        options: validated options.
        device: where the model is prepared.
        world_size: number of ranks that will train.

    Returns:
        Names of trainable parameters the first loss left without gradient (only looked for on
        several ranks; empty otherwise).

    Raises:
        ValueError: the model mixes devices, the data do not fit the model, or the model has no
            trainable parameters.
    """
    model.to(device)
    check_model_devices(model, device)
    model.train()
    check_against_model(model, data)
    if options.valid_data is not None:
        check_against_model(model, options.valid_data)
    pyro.set_rng_seed(options.seed)
    unused = materialise(model, data, options, device, find_unused=world_size > 1)
    trainable_parameters(model)  # raises when there are none
    if not options.resumes:
        stream = torch.Generator().manual_seed(options.seed)
        sampler = BatchSampler(data, options.batch_size * world_size, options.window, stream)
        with forked_rng(device):
            model.init_from_data(sampler.peek().to(device))
    return unused


def materialise(
    model: GenerativeModel,
    data: MultimodalDataset | MultimodalBatch,
    options: FitOptions,
    device: torch.device,
    *,
    find_unused: bool = False,
) -> list[str]:
    """One loss evaluation before any optimizer exists (step 3), on borrowed RNG states.

    Returns:
        With ``find_unused``, the trainable parameters that received no gradient (empty when the
        loss is not finite); otherwise an empty list (the evaluation then runs without grad).
    """
    values = {k: fn(0) for k, fn in (options.schedules or {}).items()}
    warm = torch.Generator().manual_seed(options.seed + 1)
    batch = BatchSampler(data, options.batch_size, options.window, warm)().to(device)
    unused: list[str] = []
    with forked_rng(device):
        if not find_unused:
            with torch.no_grad():
                model.loss(batch, **values)
            return unused
        total, _ = model.loss(batch, **values)
        if torch.is_tensor(total) and total.requires_grad and bool(torch.isfinite(total)):
            total.backward()
            unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    if unused:
        logger.info("parameters without gradient at the first step: %s", unused[:10])
    return unused


__all__ = ["check_against_model", "check_data", "check_inputs", "materialise", "prepare_model"]

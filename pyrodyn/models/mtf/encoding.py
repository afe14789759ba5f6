"""MTF's recognition side: encoder construction, batch checks and the teacher posterior.

Functions of a model with ``likelihoods``, ``encoder`` (joint, early fusion) or ``encoders`` +
``fusion`` (per-modality experts); :class:`~pyrodyn.models.mtf.MTF` and the parity objective
(:mod:`pyrodyn.models.mtf.reference`) share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyro.distributions as dist
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.models.mtf.recipe import InputNoise
from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.fusion.base import Fusion


def build_encoders(
    model: Any,
    k: int,
    encoder: Encoder | None,
    encoders: Mapping[str, Encoder] | None,
    fusion: Fusion | None,
) -> None:
    """Sets ``model.encoder`` or ``model.encoders`` + ``model.fusion`` (latent size K)."""
    if encoder is not None and encoders is not None:
        raise ValueError("pass either `encoder` (joint) or `encoders` (per modality), not both")
    mods = model.modalities
    if encoders is not None:
        unknown = sorted(set(encoders) - set(mods))
        absent = sorted(set(mods) - set(encoders))
        if unknown or absent:
            raise ValueError(
                f"encoders must name exactly the modalities {mods}; unknown {unknown}, without "
                f"encoder {absent}"
            )
        for mod, enc in encoders.items():
            if enc.latent_dim != k:
                raise ValueError(
                    f"encoder of modality {mod!r} has latent_dim {enc.latent_dim}, expected "
                    f"forcing_dim K={k}"
                )
        from pyrodyn.nn.fusion.poe import ProductOfExperts

        model.encoders = nn.ModuleDict(dict(encoders))
        model.fusion = ProductOfExperts() if fusion is None else fusion
        model.encoder = None
        return
    if encoder is None:
        from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder

        encoder = TemporalConvEncoder(sum(model.likelihoods[m].num_features for m in mods), k)
    if encoder.latent_dim != k:
        raise ValueError(f"encoder latent_dim {encoder.latent_dim} must equal forcing_dim K={k}")
    model.encoder, model.encoders, model.fusion = encoder, None, None


def check_windows(model: Any, batch: MultimodalBatch) -> None:
    """Validates windows: sequences of exactly the model's modalities, one observed per row.

    Raises:
        ValueError: a modality without likelihood or missing, static data, or a sequence with no
            observed modality (the teacher needs one).
    """
    extra = [m for m in batch.modalities if m not in model.likelihoods]
    if extra:
        raise ValueError(
            f"batch modalities {extra} have no likelihood in the model (it has "
            f"{model.modalities}); add likelihoods for them or use batch.select(...)"
        )
    missing = [m for m in model.modalities if m not in batch.obs]
    if missing:
        raise ValueError(
            f"batch lacks modalities {missing} of the model; it has {batch.modalities} "
            "(a modality missing in some windows is an all-False mask, not an absent key)"
        )
    if batch.static:
        raise ValueError(f"{type(model).__name__} models sequences; got a static batch")
    present = torch.stack([batch.present(m) for m in model.modalities]).any(0)
    if not bool(present.all()):
        rows = (~present).nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"every modality is missing in sequences {rows} (first five) of the batch; "
            f"{type(model).__name__} needs at least one observed modality per window for its "
            "teacher signal"
        )


def encoder_input(model: Any, mod: str, batch: MultimodalBatch, noise: InputNoise | None) -> Tensor:
    """Observations of ``mod`` as encoder input ``(B, T, F)``, noised in training mode."""
    b, t = batch.num_sequences, batch.num_steps
    x = batch.obs[mod].reshape(b, t, -1).to(torch.get_default_dtype())
    # a training augmentation: evaluation (eval mode) sees the clean inputs
    if noise is not None and model.training and noise.applies(model.likelihoods[mod]):
        x = noise(mod, x)
    return x


def experts(
    model: Any, batch: MultimodalBatch, noise: InputNoise | None = None
) -> tuple[dict[str, dist.Normal], dict[str, Tensor]]:
    """Unimodal posteriors ``(B, T, K)`` and per-step availability ``(B, T)``."""
    b, t = batch.num_sequences, batch.num_steps
    posts, present = {}, {}
    for mod in model.modalities:
        mask = batch.mask[mod].reshape(b, t, -1)
        posts[mod] = model.encoders[mod](encoder_input(model, mod, batch, noise) * mask, mask)
        present[mod] = mask.any(-1)
    return posts, present


def teacher_posterior(
    model: Any, batch: MultimodalBatch, noise: InputNoise | None = None
) -> tuple[dist.Normal, dict[str, dist.Normal] | None, dict[str, Tensor] | None]:
    """The teacher posterior ``(B, T, K)`` and, for per-modality encoders, the experts."""
    if model.encoder is not None:
        b, t = batch.num_sequences, batch.num_steps
        xs, ms = [], []
        for mod in model.modalities:
            mask = batch.mask[mod].reshape(b, t, -1)
            xs.append(encoder_input(model, mod, batch, noise) * mask)
            ms.append(mask)
        return model.encoder(torch.cat(xs, -1), torch.cat(ms, -1)), None, None
    posts, present = experts(model, batch, noise)
    return model.fusion.posterior(posts, present), posts, present


__all__ = ["build_encoders", "check_windows", "encoder_input", "experts", "teacher_posterior"]

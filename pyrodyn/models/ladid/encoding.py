"""LaDID's recognition side: per-modality token Gaussians, the instance-code posteriors, a cache.

Each encoded modality's continuous-time transformer gives per-token Gaussians; the code
posterior of a window is the law of the mean of one sample per context token,
``N(mean gamma, sqrt(sum sigma^2) / C)`` (spec ladid 1.3, 7.4). With ``state_encoders`` the code
is split into ``[constants ; state]``: the state part comes from the first ``state_frames``
frames only.

The model needs the guide's encoding in two places: the per-frame token Gaussians for
``reg.embedding`` and the unimodal posteriors for data-dependent priors and the fusion's
regulariser. A :class:`~pyrodyn.models.handoff.Handoff` hands the guide's encoding to the
model of the same loss evaluation, so the encoders run once per evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import pyro.distributions as dist
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.models.ladid.windows import crop_index
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer, aggregate_tokens


class Encoding(NamedTuple):
    """One encoding of a window batch.

    Attributes:
        tokens: modality -> per-token Gaussians ``(B, L, K_c)`` (``L = C`` unless ``full``).
        posteriors: modality -> code posterior ``(B, K)``.
        present: modality -> ``(B,)`` bool, the modality is observed in the context.
        full: whether ``tokens`` cover every step of the window (``reg.embedding``).
    """

    tokens: dict[str, dist.Normal]
    posteriors: dict[str, dist.Normal]
    present: dict[str, Tensor]
    full: bool


def check_state_encoders(
    encoders: Mapping[str, ContinuousTimeTransformer],
    state_encoders: Mapping[str, ContinuousTimeTransformer] | None,
    state_frames: int,
    context: int,
    code_dim: int,
) -> int:
    """Validates the split-code arguments; returns K_s (0 without a split)."""
    if not state_encoders:
        return 0
    if set(state_encoders) != set(encoders):
        raise ValueError(
            f"state_encoders must cover exactly the encoded modalities {sorted(encoders)}, "
            f"got {sorted(state_encoders)}"
        )
    sizes = {m: e.latent_dim for m, e in state_encoders.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"state encoders must give one state size, got {sizes}")
    k_s = next(iter(sizes.values()))
    if k_s >= code_dim:
        raise ValueError(
            f"the state part (size {k_s}) must be smaller than the code (size {code_dim}) to "
            "leave room for the constants"
        )
    if not 1 <= int(state_frames) <= int(context):
        raise ValueError(f"state_frames must lie in [1, context = {context}], got {state_frames}")
    return k_s


def _with_state(
    state_encoder: nn.Module | None,
    state_frames: int,
    post: dist.Normal,
    x: Tensor,
    mask: Tensor,
    times: Tensor,
    ok: Tensor,
) -> dist.Normal:
    """Appends the state part of a code posterior (split codes only).

    Rows without an observed state frame get the prior N(0, I) for the state part.
    """
    if state_encoder is None:
        return post
    n = state_frames
    q = state_encoder(x[:, :n], mask[:, :n], times[:, :n])
    ok = ok[:, :n]
    seen = ok.any(1, keepdim=True)
    s = aggregate_tokens(q, ok | ~seen)
    loc = torch.where(seen, s.loc, torch.zeros_like(s.loc))
    scale = torch.where(seen, s.scale, torch.ones_like(s.scale))
    return dist.Normal(torch.cat([post.loc, loc], -1), torch.cat([post.scale, scale], -1))


def encode_windows(
    encoders: Mapping[str, nn.Module],
    state_encoders: Mapping[str, nn.Module] | None,
    batch: MultimodalBatch,
    context: int,
    state_frames: int,
    *,
    full: bool,
    constants_start: Tensor | None = None,
) -> Encoding:
    """Token Gaussians, code posteriors and presence of every encoded modality.

    Args:
        encoders: modality -> transformer of the constants part (all of psi without a split).
        state_encoders: modality -> transformer of the state part, or None.
        batch: windows ``(B, L, ...)`` whose first ``context`` steps are the context.
        context: C.
        state_frames: frames the state encoders read.
        full: run the constants encoders over the whole window (context tokens attend only to
            the context, so the code posterior is unchanged) to get per-frame tokens.
        constants_start: ``(B,)``: the constants encoders read ``context`` frames from there
            instead of the context (``constants_crop`` training).
    """
    c = int(context)
    valid = batch.valid_steps()
    tokens, posts, present = {}, {}, {}
    for m, enc in encoders.items():
        x, mask = batch.obs[m], batch.mask[m]
        step_ok = batch.step_mask(m) & valid
        present[m] = step_ok[:, :c].any(1)
        if full:
            q = enc(x, mask, batch.times, context=c)
            read_ok = step_ok[:, :c]
        else:
            # the frames the constants encoder reads: the context, or a crop in training
            rows, cols = crop_index(batch, c, constants_start)
            q = enc(x[rows, cols], mask[rows, cols], batch.times[rows, cols])
            read_ok = step_ok[rows, cols]
        tokens[m] = q
        # rows with nothing read get a dummy average; the fusion ignores absent modalities
        agg_ok = read_ok | ~read_ok.any(1, keepdim=True)
        post = aggregate_tokens(dist.Normal(q.loc[:, :c], q.scale[:, :c]), agg_ok)
        state = None if state_encoders is None else state_encoders[m]
        posts[m] = _with_state(state, state_frames, post, x, mask, batch.times, step_ok)
    return Encoding(tokens, posts, present, bool(full))


__all__ = [
    "Encoding",
    "check_state_encoders",
    "encode_windows",
]

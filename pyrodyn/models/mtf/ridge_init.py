"""A data-driven start for MTF: the dynamics fitted by ridge regression, the encoder regressed.

A randomly initialised MTF spends much of a short budget finding the attractor, and whether it
finds it varies from seed to seed. :class:`RidgeInit` starts it from the data instead, as
reservoir computing trains its read-out (Jaeger & Haas, Science 2004):

1. the teacher latent's first units are set to the smoothed continuous channels
   (Savitzky-Golay; the others are 0), so the continuous decoder is the identity on them;
2. the shallow PLRNN is the ridge solution of that latent's one-step map on random hidden
   features (:func:`~pyrodyn.dynamics.ridge.ridge_fit_shallow_plrnn`); with ``draws > 1``
   several random feature sets are fitted and the one whose free run best matches the
   recording is kept, as reservoir computing picks a reservoir by its free run;
3. the encoder is regressed onto the latent and the other modalities' decoders are fitted to
   their observations given it (``encoder_steps`` Adam steps on random windows).

MTF training (Brenner et al., ICML 2024) then refines all of it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from scipy.signal import savgol_filter

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.dynamics.plrnn import ShallowPLRNN
from pyrodyn.dynamics.ridge import ridge_fit_shallow_plrnn
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.mtf.encoding import teacher_posterior
from pyrodyn.models.mtf.ridge_draws import Score, best_draw
from pyrodyn.nn.decoders import LinearDecoder

logger = logging.getLogger(__name__)

#: Extra key holding the latent targets in the regression batches.
_TARGET = "__ridge_init_latent"


class RidgeInit:
    """Initialises an :class:`~pyrodyn.models.mtf.MTF` from a recording (see the module).

    Args:
        modality: the continuous modality that defines the latent (default: the first one with a
            Gaussian likelihood and a linear decoder); its channels must not exceed the forcing
            dimension K and must be fully observed.
        smooth: Savitzky-Golay window in steps (odd, > ``polyorder``; 1: no smoothing).
        polyorder: Savitzky-Golay polynomial order.
        ridge: L2 penalty of the dynamics fit.
        scale: sd of the random hidden-layer weights (the latent is in the data's units).
        linear_span: give the ridge fit pairs of hidden units that are linear in each channel
            for ``|z| <`` this value (see :func:`~pyrodyn.dynamics.ridge.ridge_fit_shallow_plrnn`;
            None: random features only).
        draws: random hidden layers fitted; with more than one, each fit's free run (from the
            longest trial's first state, its one-step residual noise added) is scored by
            ``score`` against that trial's last ``score_steps`` raw channels and the lowest
            score is kept (see :mod:`pyrodyn.models.mtf.ridge_draws`).
        score_steps: steps of each draw's scored free run (after a burn-in of 1000).
        score: ``score(x_true, x_gen) -> float`` of two ``(T, n)`` arrays, lower is better;
            needed with ``draws > 1`` (``fit.init`` passes D_stsp + D_H, e.g.
            ``lambda x, g: d_stsp(x, g) + d_h(x, g, sigma=2.0)`` from :mod:`pyrodyn.metrics`).
        encoder_steps: Adam steps regressing the encoder (and fitting the other decoders).
        batch_size: windows per regression step.
        window: steps per window (default: the shortest trial, at most 100).
        lr: Adam learning rate of the regression.
        seed: seed of the random hidden weights and windows.

    Raises:
        ValueError: an option out of range.
    """

    def __init__(
        self,
        *,
        modality: str | None = None,
        smooth: int = 7,
        polyorder: int = 3,
        ridge: float = 1e-2,
        scale: float = 1.0,
        linear_span: float | None = None,
        draws: int = 1,
        score_steps: int = 10_000,
        score: Score | None = None,
        encoder_steps: int = 300,
        batch_size: int = 32,
        window: int | None = None,
        lr: float = 3e-3,
        seed: int = 0,
    ) -> None:
        smooth, polyorder = int(smooth), int(polyorder)
        if smooth < 1 or (smooth > 1 and (smooth % 2 == 0 or smooth <= polyorder)):
            raise ValueError(
                f"smooth must be 1 or an odd window longer than polyorder ({polyorder}), "
                f"got {smooth}"
            )
        if polyorder < 0:
            raise ValueError(f"polyorder must be >= 0, got {polyorder}")
        if int(encoder_steps) < 0:
            raise ValueError(f"encoder_steps must be >= 0, got {encoder_steps}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if window is not None and int(window) < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        if linear_span is not None and not float(linear_span) > 0:
            raise ValueError(f"linear_span must be > 0 or None, got {linear_span}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if int(draws) < 1 or int(score_steps) < 100:
            raise ValueError(
                f"draws must be >= 1 and score_steps >= 100, got draws={draws}, "
                f"score_steps={score_steps}"
            )
        if int(draws) > 1 and not callable(score):
            raise ValueError(
                f"draws={draws} needs score=callable(x_true, x_gen) -> float to choose among the "
                "draws (fit.init passes D_stsp + D_H)"
            )
        self.modality, self.smooth, self.polyorder = modality, smooth, polyorder
        self.ridge, self.scale = float(ridge), float(scale)
        self.linear_span = None if linear_span is None else float(linear_span)
        self.encoder_steps, self.batch_size = int(encoder_steps), int(batch_size)
        self.window, self.lr, self.seed = window, float(lr), int(seed)
        self.draws, self.score_steps, self.score = int(draws), int(score_steps), score

    def __call__(self, model: Any, data: MultimodalDataset) -> dict[str, Any]:
        """Initialises ``model`` in place from ``data`` (in the model's units).

        Returns:
            ``modality``, ``a`` (the fitted diagonal), ``residual`` (one-step sd per unit),
            ``encoder_mse`` (last regression step) and, with ``draws > 1``, ``draw_scores``
            (every draw's score, in order).

        Raises:
            TypeError: not an MTF with a shallow PLRNN.
            ValueError: no usable continuous modality, or data it cannot use.
        """
        modality = self._check(model, data)
        gen = torch.Generator().manual_seed(self.seed)
        targets = self._targets(model, data, modality)
        z = torch.cat([t[:-1] for t in targets])
        z_next = torch.cat([t[1:] for t in targets])
        n = data.feature_shape(modality)[0]

        def fit() -> torch.Tensor:
            return ridge_fit_shallow_plrnn(
                model.dynamics,
                z,
                z_next,
                units=n,
                ridge=self.ridge,
                scale=self.scale,
                linear_span=self.linear_span,
                generator=gen,
            )

        if self.draws == 1:
            residual, scores = fit(), None
        else:
            trial = int(torch.as_tensor(data.lengths).argmax())
            raw = data.data[modality][trial, : int(data.lengths[trial])].double()
            residual, scores = best_draw(
                model.dynamics,
                fit,
                targets[trial][0],
                raw,
                self.draws,
                self.score_steps,
                torch.Generator().manual_seed(self.seed),  # the scoring noise: its own stream
                self.score,
            )
        head = model.decoders[modality].heads["loc"]
        with torch.no_grad():
            head.weight.zero_()
            head.weight[:, :n] = torch.eye(n)
            head.bias.zero_()
        mse = self._regress(model, data, modality, targets, gen)
        report = {
            "modality": modality,
            "a": model.dynamics.a.detach()[:n].tolist(),
            "residual": residual.tolist(),
            "encoder_mse": mse,
        }
        if scores is not None:
            report["draw_scores"] = scores
        logger.info("RidgeInit: %s", report)
        return report

    # ----------------------------------------------------------------------------- helpers
    def _check(self, model: Any, data: MultimodalDataset) -> str:
        from pyrodyn.models.mtf.model import MTF

        if not isinstance(model, MTF):
            raise TypeError(f"RidgeInit initialises MTF models, got {type(model).__name__}")
        if not isinstance(model.dynamics, ShallowPLRNN):
            raise TypeError(
                "RidgeInit fits a ShallowPLRNN or ClippedShallowPLRNN, got "
                f"{type(model.dynamics).__name__}"
            )
        if data.static:
            raise ValueError("RidgeInit needs sequences; the data are static samples")
        candidates = [
            m
            for m in model.modalities
            if isinstance(model.likelihoods[m], Gaussian)
            and isinstance(model.decoders[m], LinearDecoder)
        ]
        modality = self.modality
        if modality is None:
            if not candidates:
                raise ValueError(
                    "RidgeInit needs a modality with a Gaussian likelihood and a linear decoder; "
                    f"the model has {model.modalities}"
                )
            modality = candidates[0]
        elif modality not in candidates:
            raise ValueError(
                f"RidgeInit modality {modality!r} is not one with a Gaussian likelihood and a "
                f"linear decoder ({candidates})"
            )
        shape = data.feature_shape(modality)
        if len(shape) != 1 or shape[0] > model.forcing_dim:
            raise ValueError(
                f"RidgeInit: modality {modality!r} has features {shape}; it needs a vector of at "
                f"most K = {model.forcing_dim} channels"
            )
        return modality

    def _targets(self, model: Any, data: MultimodalDataset, modality: str) -> list[torch.Tensor]:
        """Per trial ``(T_i, M)`` latent targets: the smoothed channels, then zeros."""
        out = []
        m = model.dynamics.latent_dim
        for i in range(data.num_trials):
            length = int(data.lengths[i])
            x = data.data[modality][i, :length].double().numpy()
            if not np.isfinite(x).all():
                raise ValueError(
                    f"RidgeInit: modality {modality!r} has missing values in trial {i}; it needs "
                    "fully observed channels"
                )
            if length < max(self.smooth, 2):
                raise ValueError(
                    f"RidgeInit: trial {i} has {length} steps, fewer than the smoothing window "
                    f"{self.smooth} (or 2)"
                )
            if self.smooth > 1:
                x = savgol_filter(x, self.smooth, self.polyorder, axis=0)
            target = torch.zeros(length, m, dtype=torch.float64)
            target[:, : x.shape[1]] = torch.from_numpy(np.ascontiguousarray(x))
            out.append(target)
        return out

    def _regress(
        self,
        model: Any,
        data: MultimodalDataset,
        modality: str,
        targets: list[torch.Tensor],
        gen: torch.Generator,
    ) -> float | None:
        """Adam on encoder MSE + the other decoders' NLL given the targets; last MSE."""
        if self.encoder_steps == 0:
            return None
        width = model.dynamics.latent_dim
        padded = torch.full((data.num_trials, data.num_steps, width), float("nan"))
        for i, t in enumerate(targets):
            padded[i, : t.shape[0]] = t.to(padded)
        ds = MultimodalDataset(
            {**data.data, _TARGET: padded}, lengths=data.lengths, dt=getattr(data, "dt", 1.0)
        )
        window = int(min(self.window or 100, int(data.lengths.min())))
        others = [m for m in model.modalities if m != modality]
        params = list(_encoder_parameters(model))
        params += [p for m in others for p in model.decoders[m].parameters()]
        params += [p for m in others for p in model.likelihoods[m].parameters()]
        opt = torch.optim.Adam(params, lr=self.lr)
        mse = torch.tensor(float("nan"))
        was_training = model.training
        model.train()
        for _ in range(self.encoder_steps):
            batch = ds.sample_batch(self.batch_size, window=window, generator=gen)
            b, t = batch.num_sequences, batch.num_steps
            zt = batch.obs[_TARGET].reshape(b, t, -1).to(torch.get_default_dtype())
            batch = batch.select([m for m in batch.modalities if m != _TARGET])
            post, _, _ = teacher_posterior(model, batch)
            mse = ((post.loc - zt) ** 2).mean()
            loss = mse * zt.shape[-1]
            for m in others:
                params_m = model.decoders[m](zt)
                obs = batch.obs[m].reshape(b, t, *data.feature_shape(m))
                mask = batch.mask[m].reshape(b, t, *data.feature_shape(m))
                loss = loss - model.likelihoods[m].log_prob(params_m, obs, mask).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.train(was_training)
        return float(mse.detach())


def _encoder_parameters(model: Any) -> list[torch.nn.Parameter]:
    if model.encoder is not None:
        return list(model.encoder.parameters())
    return [p for enc in model.encoders.values() for p in enc.parameters()] + list(
        model.fusion.parameters()
    )


__all__ = ["RidgeInit"]

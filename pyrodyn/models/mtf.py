"""MTF: multimodal teacher forcing (Brenner, Hess, Koppe & Durstewitz, ICML 2024).

A multimodal encoder turns all observations into a per-step Gaussian posterior over a
K-dimensional latent ``z̃_t``. Its samples are the teacher signal of a PLRNN-type `DynamicsModel`
with ``M >= K`` units, sparsely teacher-forced every ``tau`` steps on its first K units
(:mod:`pyrodyn.dynamics.forcing`). One decoder per modality reads the first K latent units and is
shared between the encoder path and the dynamics path. The objective (specs/mtf.md 1.5, 7.1) is

``L = w_rec L_rec + w_obs L_obs + w_lat L_lat − w_ent H [+ w_fus L_fus]``

* ``L_rec = −Σ_m log p_m(x_t | z̃_t)`` (reconstruction through the shared decoders),
* ``L_obs = −Σ_m log p_m(x_{t+1} | ẑ_{t+1})`` (likelihood of the forced rollout's predictions),
* ``L_lat = −log N(z̃_{t+1}; ẑ_{t+1, 1:K}, σ_z²)`` (latent consistency; ``½‖·‖²`` for σ_z = 1),
* ``H`` the entropy of the encoder posterior (entering with the ELBO-correct *minus* sign),

each summed over features and averaged over observed sequence steps. ``L_rec + L_lat − H`` is the
negative ELBO of a VAE whose prior is the forced rollout; ``L_obs`` is an extra generative term,
so the objective is not an ELBO (``is_elbo = False``).

With per-modality encoders, a fusion that couples the unimodal posteriors through a regulariser
(:meth:`Fusion.regularizer`; MMVM's pull of every ``q_m(z̃_t | x_m)`` toward the mixture of all
available unimodal posteriors, Sutter, Daunhawer & Vogt, "Unity by Diversity: Improved
Representation Learning in Multimodal VAEs", NeurIPS 2024) adds
``L_fus = Σ_{m available} KL(q_m || h)`` per step, averaged over valid steps like the other
terms; without it MMVM fusion would leave the experts uncoupled. Fusions without a regulariser
(PoE, mean, ...) add nothing and report no ``fusion`` term.

``reference_compat=True`` reproduces the released code's quirks for parity checks (specs/mtf.md
1.7): (1) the entropy enters with a ``+`` sign; (2) the Gaussian NLL is ``½·SSE`` of the first
sequence of the batch, summed over time, unit variance, no constant; (3) the ordinal labels used
in ``L_rec`` are the noised codes truncated to integers (codes below 1 become 2); (4) ``L_lat`` is
the squared error averaged over sequences, steps *and* latent units; (5) the input noise is added
to every channel the encoder sees, not only the Gaussian ones.

Defaults follow specs/mtf.md 1.6 (tau 10, unit loss weights, sampled encoder latent, input noise
0.01) except where measured otherwise: in a 10-minute CPU budget on Lorenz-63 (BENCHMARKS.md)
the encoder means as teacher (``sample_latent=False``), K = M (window-parallel rollout), a clipped
shallow PLRNN with M = 10 and a learned Gaussian scale learned faster than the sampled,
correct-sign ELBO with a clipped dendPLRNN (M = 20, B = 15), whose unread latent directions keep
a posterior scale near 1 and thus feed noise into the forcing; ``configs/mtf_lorenz63.yaml``
records the measured choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.dynamics.forcing import (
    check_forcing,
    generalized_forcing_rollout,
    sparse_forcing_rollout,
)
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import ForecastsAhead, Generates
from pyrodyn.nn.decoders import Decoder, LinearDecoder
from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.fusion.base import Fusion

_SCHEDULABLE = (
    "rec_weight",
    "obs_weight",
    "lat_weight",
    "entropy_weight",
    "fusion_weight",
    "alpha",
    "fusion_alpha",
)
_WEIGHTS = ("rec_weight", "obs_weight", "lat_weight", "entropy_weight", "fusion_weight")


def _is_gaussian(lik: Likelihood) -> bool:
    from pyrodyn.likelihoods.gaussian import Gaussian

    return isinstance(lik, Gaussian)


def _is_ordinal(lik: Likelihood) -> bool:
    from pyrodyn.likelihoods.ordinal import Ordinal

    return isinstance(lik, Ordinal)


class MTF(GenerativeModel, Generates, ForecastsAhead):
    """Multimodal teacher forcing of a latent dynamics model.

    Args:
        likelihoods: modality -> likelihood (any number and mix of modalities).
        dynamics: the latent map with M units (default family: PLRNN variants).
        forcing_dim: K, the forced / read-out subspace (first K units; default M).
        tau: sparse forcing interval (spec default 10-15; must not exceed the training window).
        encoder: one encoder over all modalities concatenated (early fusion, the reference's
            default); None builds a :class:`~pyrodyn.nn.encoders.temporal_conv.TemporalConvEncoder`
            (kernels 11/7/5) over the concatenation, with the mask as extra channels.
        encoders: modality -> encoder instead (per-modality experts combined by ``fusion``);
            windows missing a modality get the fusion's posterior from the available ones.
        fusion: how per-modality posteriors combine (default product of experts).
        decoders: modality -> decoder reading ``z_{1:K}`` (default linear).
        rec_weight: weight of ``L_rec``.
        obs_weight: weight of ``L_obs``.
        lat_weight: weight of ``L_lat``.
        entropy_weight: weight of the encoder entropy ``H``.
        fusion_weight: weight of the fusion's coupling term ``L_fus`` (per-modality encoders
            with a regularising fusion such as MMVM; ignored otherwise).
        latent_scale: σ_z of the latent consistency term (1: the reference's squared error).
        learn_latent_scale: learn σ_z (per unit).
        sample_latent: use reparameterised encoder samples as teacher (False: posterior means
            and ``H`` is dropped, as the reference's ``sample_rec=0``).
        input_noise: sd of the noise added to Gaussian-modality inputs of the encoder during
            training (spec 1.5 step 1; 0.01 in the reference).
        reference_compat: reproduce the reference's quirks (module docstring).
        parallel_rollout: force the window-parallel rollout on/off (None: whenever K == M).
    """

    is_elbo: ClassVar[bool] = False

    def __init__(
        self,
        likelihoods: Mapping[str, Likelihood],
        dynamics: DynamicsModel,
        forcing_dim: int | None = None,
        *,
        tau: int = 10,
        encoder: Encoder | None = None,
        encoders: Mapping[str, Encoder] | None = None,
        fusion: Fusion | None = None,
        decoders: Mapping[str, Decoder] | None = None,
        rec_weight: float = 1.0,
        obs_weight: float = 1.0,
        lat_weight: float = 1.0,
        entropy_weight: float = 1.0,
        fusion_weight: float = 1.0,
        latent_scale: float = 1.0,
        learn_latent_scale: bool = False,
        sample_latent: bool = True,
        input_noise: float = 0.01,
        reference_compat: bool = False,
        parallel_rollout: bool | None = None,
    ) -> None:
        super().__init__(likelihoods)
        if not isinstance(dynamics, DynamicsModel):
            raise TypeError(f"dynamics must be a DynamicsModel, got {type(dynamics).__name__}")
        m = dynamics.latent_dim
        k = m if forcing_dim is None else int(forcing_dim)
        check_forcing(tau, None, k, m)
        if encoder is not None and encoders is not None:
            raise ValueError("pass either `encoder` (joint) or `encoders` (per modality), not both")
        for name, value in (
            ("rec_weight", rec_weight),
            ("obs_weight", obs_weight),
            ("lat_weight", lat_weight),
            ("entropy_weight", entropy_weight),
            ("fusion_weight", fusion_weight),
            ("input_noise", input_noise),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not latent_scale > 0:
            raise ValueError(f"latent_scale must be positive, got {latent_scale}")
        self.dynamics = dynamics
        self.forcing_dim, self.tau = k, int(tau)
        self.weights = {
            "rec_weight": float(rec_weight),
            "obs_weight": float(obs_weight),
            "lat_weight": float(lat_weight),
            "entropy_weight": float(entropy_weight),
            "fusion_weight": float(fusion_weight),
        }
        self.sample_latent = bool(sample_latent)
        self.input_noise = float(input_noise)
        self.reference_compat = bool(reference_compat)
        self.parallel_rollout = parallel_rollout
        log_s = torch.full((k,), float(latent_scale)).log()
        if learn_latent_scale:
            self.log_latent_scale = nn.Parameter(log_s)
        else:
            self.register_buffer("log_latent_scale", log_s)
        self.sizes = {mod: lik.num_features for mod, lik in self.likelihoods.items()}
        if encoders is not None:
            unknown = sorted(set(encoders) - set(self.modalities))
            absent = sorted(set(self.modalities) - set(encoders))
            if unknown or absent:
                raise ValueError(
                    f"encoders must name exactly the modalities {self.modalities}; unknown "
                    f"{unknown}, without encoder {absent}"
                )
            for mod, enc in encoders.items():
                if enc.latent_dim != k:
                    raise ValueError(
                        f"encoder of modality {mod!r} has latent_dim {enc.latent_dim}, expected "
                        f"forcing_dim K={k}"
                    )
            from pyrodyn.nn.fusion.poe import ProductOfExperts

            self.encoders = nn.ModuleDict(dict(encoders))
            self.fusion = ProductOfExperts() if fusion is None else fusion
            self.encoder = None
        else:
            if encoder is None:
                from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder

                encoder = TemporalConvEncoder(sum(self.sizes.values()), k)
            if encoder.latent_dim != k:
                raise ValueError(
                    f"encoder latent_dim {encoder.latent_dim} must equal forcing_dim K={k}"
                )
            self.encoder, self.encoders, self.fusion = encoder, None, None
        decoders = dict(decoders or {})
        unknown = sorted(set(decoders) - set(self.modalities))
        if unknown:
            raise ValueError(f"decoders given for unknown modalities {unknown}")
        self.decoders = nn.ModuleDict(
            {
                mod: decoders.get(mod) or LinearDecoder(k, lik)
                for mod, lik in self.likelihoods.items()
            }
        )

    # ------------------------------------------------------------------ encoder
    @property
    def latent_scale(self) -> Tensor:
        """σ_z of the latent consistency term ``(K,)``."""
        return self.log_latent_scale.exp()

    def _check_windows(self, batch: MultimodalBatch) -> None:
        extra = [m for m in batch.modalities if m not in self.likelihoods]
        if extra:
            raise ValueError(
                f"batch modalities {extra} have no likelihood in the model (it has "
                f"{self.modalities}); add likelihoods for them or use batch.select(...)"
            )
        missing = [m for m in self.modalities if m not in batch.obs]
        if missing:
            raise ValueError(
                f"batch lacks modalities {missing} of the model; it has {batch.modalities} "
                "(a modality missing in some windows is an all-False mask, not an absent key)"
            )
        present = torch.stack([batch.present(m) for m in self.modalities]).any(0)
        if not bool(present.all()):
            rows = (~present).nonzero().flatten()[:5].tolist()
            raise ValueError(
                f"every modality is missing in sequences {rows} (first five) of the batch; MTF "
                "needs at least one observed modality per window for its teacher signal"
            )

    def _noisy(self, mod: str, x: Tensor) -> Tensor:
        if not self.training or self.input_noise == 0:
            return x
        if self.reference_compat or _is_gaussian(self.likelihoods[mod]):
            return x + self.input_noise * torch.randn_like(x)
        return x

    def unimodal_posteriors(
        self, batch: MultimodalBatch
    ) -> tuple[dict[str, dist.Normal], dict[str, Tensor]]:
        """Per-modality posteriors ``q_m`` ``(B, T, K)`` and availability ``(B, T)`` bool.

        Only for per-modality encoders (``encoders=``); input noise applies in training mode.

        Raises:
            ValueError: the model has one joint encoder, or a sequence has no observed modality.
        """
        if self.encoders is None:
            raise ValueError("the model has one joint encoder; unimodal posteriors need `encoders`")
        self._check_sequences(batch)
        return self._experts(batch)

    def _check_sequences(self, batch: MultimodalBatch) -> None:
        if batch.static:
            raise ValueError("MTF models sequences; got a static batch")
        self._check_windows(batch)

    def _experts(self, batch: MultimodalBatch) -> tuple[dict[str, dist.Normal], dict[str, Tensor]]:
        b, t = batch.num_sequences, batch.num_steps
        posts, present = {}, {}
        for mod in self.modalities:
            mask = batch.mask[mod].reshape(b, t, -1)
            x = self._noisy(mod, batch.obs[mod].reshape(b, t, -1).to(torch.get_default_dtype()))
            posts[mod] = self.encoders[mod](x * mask, mask)
            present[mod] = mask.any(-1)
        return posts, present

    def posterior(self, batch: MultimodalBatch) -> dist.Normal:
        """Encoder posterior ``q(z̃ | x)``: ``Normal`` with batch shape ``(B, T, K)``.

        Raises:
            ValueError: a sequence has no observed modality at all.
        """
        self._check_sequences(batch)
        b, t = batch.num_sequences, batch.num_steps
        if self.encoder is not None:
            xs, ms = [], []
            for mod in self.modalities:
                mask = batch.mask[mod].reshape(b, t, -1)
                x = batch.obs[mod].reshape(b, t, -1).to(torch.get_default_dtype())
                xs.append(self._noisy(mod, x) * mask)
                ms.append(mask)
            return self.encoder(torch.cat(xs, -1), torch.cat(ms, -1))
        return self.fusion.posterior(*self._experts(batch))

    def encode(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Posterior means ``{"latent": (B, T, K)}``."""
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                return {"latent": self.posterior(batch).loc}
        finally:
            self.train(was)

    # ------------------------------------------------------------------ decoders
    def decode(self, latent: Tensor | Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """Decoder outputs per modality from latents ``(..., D >= K)`` (first K units read)."""
        if isinstance(latent, Mapping):
            latent = latent["latent"]
        if latent.shape[-1] < self.forcing_dim:
            raise ValueError(
                f"latents need at least K={self.forcing_dim} units, got {tuple(latent.shape)}"
            )
        u = latent[..., : self.forcing_dim]
        return {mod: self.decoders[mod](u) for mod in self.modalities}

    # ------------------------------------------------------------------ rollout
    def rollout(self, teacher: Tensor, inputs: Tensor | None = None, alpha: float | None = None):
        """Forced rollout predictions ``(B, T, M)`` (``out[:, t]`` for step t + 1).

        Sparse identity forcing every ``tau`` steps; with ``alpha`` < 1, generalized forcing.
        """
        if alpha is not None and float(alpha) < 1.0:
            return generalized_forcing_rollout(
                self.dynamics, teacher, float(alpha), tau=self.tau, inputs=inputs
            )
        return sparse_forcing_rollout(
            self.dynamics, teacher, self.tau, inputs=inputs, parallel=self.parallel_rollout
        )

    # ------------------------------------------------------------------ objective
    def _terms(self, batch: MultimodalBatch, **scheduled: Any) -> dict[str, Tensor]:
        unknown = sorted(set(scheduled) - set(_SCHEDULABLE))
        if unknown:
            raise TypeError(
                f"MTF.loss got unknown scheduled values {unknown}; it accepts {list(_SCHEDULABLE)}"
            )
        self.check_batch(batch)
        t = batch.num_steps
        check_forcing(self.tau, t, self.forcing_dim, self.dynamics.latent_dim)
        if t < 2:
            raise ValueError(f"MTF needs windows of at least 2 steps, got {t}")
        reg = None
        if self.encoders is None:
            q = self.posterior(batch)
        else:
            # one encoder pass serves the teacher posterior and the fusion's coupling term
            posts, present = self.unimodal_posteriors(batch)
            q = self.fusion.posterior(posts, present)
            options = {}
            if scheduled.get("fusion_alpha") is not None:
                options["alpha"] = scheduled["fusion_alpha"]
            reg = self.fusion.regularizer(posts, present, **options)
        z = q.rsample() if self.sample_latent else q.loc
        pred = self.rollout(z, batch.inputs, scheduled.get("alpha"))
        valid = batch.valid_steps()
        v_rec = valid.to(z.dtype)
        v_next = (valid[:, 1:]).to(z.dtype)
        n_rec = v_rec.sum().clamp_min(1)
        n_next = v_next.sum().clamp_min(1)
        k = self.forcing_dim
        # decode encoder samples and rollout predictions in one pass per modality
        both = torch.cat([z, pred[:, :-1, :k]], 1)
        params = self.decode(both)
        terms: dict[str, Tensor] = {}
        for mod in self.modalities:
            lik = self.likelihoods[mod]
            p_rec = {n: v[:, :t] for n, v in params[mod].items()}
            p_gen = {n: v[:, t:] for n, v in params[mod].items()}
            x, mask = batch.obs[mod], batch.mask[mod]
            w = self.modality_weights.get(mod, 1.0)
            if self.reference_compat and _is_gaussian(lik):
                rec = 0.5 * ((lik.mean(p_rec) - x) * mask)[0].square().sum()
                gen = 0.5 * ((lik.mean(p_gen) - x[:, 1:]) * mask[:, 1:])[0].square().sum()
            else:
                x_rec = x
                if self.reference_compat and _is_ordinal(lik) and self.training:
                    noisy = torch.trunc(x + self.input_noise * torch.randn_like(x))
                    x_rec = torch.where(noisy < 1, torch.full_like(x, 2.0), noisy)
                rec = -(lik.log_prob(p_rec, x_rec, mask) * v_rec).sum() / n_rec
                gen = -(lik.log_prob(p_gen, x[:, 1:], mask[:, 1:]) * v_next).sum() / n_next
            terms[f"rec.{mod}"] = w * rec
            terms[f"obs.{mod}"] = w * gen
        target, guess = z[:, 1:], pred[:, :-1, :k]
        if self.reference_compat:
            lat = ((target - guess).square() * v_next[..., None]).sum() / (n_next * k)
            ent = (q.scale.log().sum(-1) * v_rec).sum() / n_rec
        else:
            lat_lp = dist.Normal(guess, self.latent_scale).log_prob(target).sum(-1)
            lat = -(lat_lp * v_next).sum() / n_next
            ent = (q.entropy().sum(-1) * v_rec).sum() / n_rec
        terms["lat"] = lat
        terms["entropy"] = ent if self.sample_latent else ent.new_zeros(())
        if reg is not None:
            terms["fusion"] = (reg * v_rec).sum() / n_rec
        return terms

    def loss(self, batch: MultimodalBatch, **scheduled: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """The MTF objective and its named terms.

        Args:
            batch: windows ``(B, T, ...)`` of every modality.
            scheduled: optional per-step overrides ``rec_weight``, ``obs_weight``,
                ``lat_weight``, ``entropy_weight``, ``fusion_weight`` (annealing, each >= 0),
                ``alpha`` (generalized forcing strength; 1 or absent: sparse identity forcing)
                and ``fusion_alpha`` (the fusion's own ``alpha``, e.g. MMVM's N(0, I) weight).

        Returns:
            ``(total, terms)`` with ``rec.<m>``, ``obs.<m>``, ``lat``, ``entropy`` and, for a
            fusion with a regulariser, ``fusion`` (detached).

        Raises:
            ValueError: a scheduled weight is negative.
        """
        wt = {k: float(scheduled.get(k, v)) for k, v in self.weights.items()}
        for name in _WEIGHTS:
            if scheduled.get(name) is not None and wt[name] < 0:
                raise ValueError(f"scheduled {name} must be >= 0, got {wt[name]}")
        terms = self._terms(batch, **scheduled)
        rec = sum(v for n, v in terms.items() if n.startswith("rec."))
        gen = sum(v for n, v in terms.items() if n.startswith("obs."))
        sign = 1.0 if self.reference_compat else -1.0
        total = (
            wt["rec_weight"] * rec
            + wt["obs_weight"] * gen
            + wt["lat_weight"] * terms["lat"]
            + sign * wt["entropy_weight"] * terms["entropy"]
        )
        if "fusion" in terms:
            total = total + wt["fusion_weight"] * terms["fusion"]
        return total, {n: v.detach() for n, v in terms.items()}

    # ------------------------------------------------------------------ Pyro model/guide
    def guide(self, batch: MultimodalBatch, **scheduled: Any) -> Tensor:
        """Samples the encoder latent as one vectorised site ``latent`` ``(B, T, K)``."""
        q = self.posterior(batch)
        with self.plate(batch):
            return pyro.sample("latent", dist.Normal(q.loc, q.scale).to_event(2))

    def model(self, batch: MultimodalBatch, **scheduled: Any) -> None:
        """Scores the encoder latent: observations under ``z̃`` and the forced rollout.

        The latent site carries no density of its own (the MTF "prior" is the forced rollout
        of the latent itself); ``lat`` and ``gen`` are factors with the MTF terms, and the
        observations under ``z̃`` are ordinary observe sites, so posterior-predictive checks and
        trace diagnostics work.
        """
        b, t = batch.num_sequences, batch.num_steps
        k = self.forcing_dim
        ref = next(iter(batch.obs.values()))
        base = dist.Normal(ref.new_zeros(b, t, k), ref.new_ones(b, t, k)).to_event(2)
        with self.plate(batch):
            z = pyro.sample("latent", base.mask(False))
            pred = self.rollout(z, batch.inputs, scheduled.get("alpha"))
            lat = dist.Normal(pred[:, :-1, :k], self.latent_scale).log_prob(z[:, 1:])
            pyro.factor("lat", lat.sum((-2, -1)))
            params = self.decode(z)
            self.observe(batch, params)
            gen = self.decode(pred[:, :-1])
            total = 0.0
            for mod in self.modalities:
                lp = self.likelihoods[mod].log_prob(
                    gen[mod], batch.obs[mod][:, 1:], batch.mask[mod][:, 1:]
                )
                total = total + lp.sum(-1)
            pyro.factor("gen", total)

    # ------------------------------------------------------------------ generation
    def _initial_states(self, init: MultimodalBatch | None, num_trials: int) -> Tensor:
        m, k = self.dynamics.latent_dim, self.forcing_dim
        p = next(self.parameters())
        z0 = torch.randn(num_trials, m, dtype=p.dtype, device=p.device)
        if init is not None:
            loc = self.encode(init)["latent"][:, 0]
            rows = torch.arange(num_trials, device=loc.device) % loc.shape[0]
            z0[:, :k] = loc[rows]
        return z0

    def generate(
        self,
        num_steps: int,
        *,
        init: MultimodalBatch | None = None,
        num_trials: int = 1,
        burn_in: int = 0,
        prediction: str = "default",
        inputs: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The model's own free run from one encoder state, decoded.

        Trial ``i`` starts from the encoder's posterior mean at the first step of sequence
        ``i mod B`` of ``init`` (unforced units from N(0, 1), as in the reference), or from
        N(0, I) without ``init``; it runs ``burn_in + num_steps - 1`` steps and the first
        ``burn_in`` states are dropped. No data are replayed.

        Args:
            num_steps: steps returned.
            init: batch whose first steps give the initial states.
            num_trials: number of trajectories.
            burn_in: transient steps dropped.
            prediction: ``"default"`` (Gaussian mean, ordinal mode, Poisson mean, categorical
                argmax), ``"mean"``, ``"mode"`` or ``"sample"``.
            inputs: ``(num_trials, burn_in + num_steps, S)`` external inputs.

        Returns:
            ``{modality: (trials, steps, *features), "latent": (trials, steps, M)}``.
        """
        if num_steps < 1 or burn_in < 0 or num_trials < 1:
            raise ValueError(
                f"need num_steps >= 1, burn_in >= 0, num_trials >= 1; got {num_steps}, "
                f"{burn_in}, {num_trials}"
            )
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                z = self._initial_states(init, num_trials)
                total = burn_in + num_steps
                states = [z]
                for step in range(total - 1):
                    z = self.dynamics.step(z, None if inputs is None else inputs[:, step])
                    states.append(z)
                latent = torch.stack(states, 1)[:, burn_in:]
                out = dict(self.predict(latent, prediction))
                out["latent"] = latent
                return out
        finally:
            self.train(was)

    def forecast(self, batch: MultimodalBatch, horizon: int) -> dict[str, Tensor]:
        """n-step forecasts from every step of a batch: ``{m: (B, T, H, *features)}``.

        ``out[m][:, t, h]`` predicts ``x_{t+h+1}``: the model starts at the encoder mean of step
        t (the unforced units carried along a rollout forced at every step) and runs h + 1 steps.
        """
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                loc = self.encode(batch)["latent"]
                b, t, k = loc.shape
                m = self.dynamics.latent_dim
                if k < m:
                    carried = sparse_forcing_rollout(
                        self.dynamics, loc, 1, inputs=batch.inputs, parallel=False
                    )
                    first = torch.randn(b, 1, m - k, dtype=loc.dtype, device=loc.device)
                    rest = torch.cat([first, carried[:, :-1, k:]], 1)
                    start = torch.cat([loc, rest], -1)
                else:
                    start = loc
                z = start.reshape(b * t, m)
                preds = []
                for h in range(horizon):
                    u = None
                    if batch.inputs is not None:
                        idx = (torch.arange(t, device=loc.device) + h).clamp_max(t - 1)
                        u = batch.inputs[:, idx].reshape(b * t, -1)
                    z = self.dynamics.step(z, u)
                    preds.append(z)
                traj = torch.stack(preds, 1).reshape(b, t, horizon, m)
                return dict(self.predict(traj))
        finally:
            self.train(was)

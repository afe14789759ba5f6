"""An ordinary `SVAE` whose generative model is a linear-Gaussian state-space model (LGSSM).

``SVAE(likelihoods, latent_dim)`` with its defaults (a `DynamicalPrior` over `LinearDynamics`,
``decoder="linear"``) and `Gaussian` likelihoods whose scale is not decoded defines, per
sequence (``MarkovTrajectory.log_prob``, ``LinearDynamics.step``, ``LinearDecoder``,
``Gaussian.distribution``)::

    z_1     ~ N(0, s0^2 I)                    s0 = prior.init_scale (one scalar)
    z_{t+1} ~ N(A z_t + b, diag(sigma^2))     A, b = prior.dynamics.A, .b (not z + f(z));
                                              sigma = prior.noise_scale, (D,)
    x^m_t   ~ N(W_m z_t + c_m, diag(r_m^2))   W_m, c_m = decoders[m].heads["loc"].weight, .bias;
                                              r_m = likelihoods[m].scale, (F_m,)

The first latent state is the state at the first observed step (no unobserved z_0). With the
observations of all modalities concatenated in model order, ``y_t = [x^m_t]_m``, this is the
LGSSM of :mod:`pyrodyn.diagnostics.kalman` with ``m_1 = 0``, ``P_1 = s0^2 I``, ``A``, ``b``,
``Q = diag(sigma^2)``, ``C = [W_m]_m`` (stacked rows), ``d = [c_m]_m`` and
``R = blockdiag_m(diag(r_m^2))``. Missing entries drop out of both. Padding steps (batch
``lengths``) drop their transition densities, i.e. they are not part of the model: give short
sequences as NaN observations instead, which the LGSSM integrates out.

:func:`lgssm_svae` builds such a model with fixed, random generative parameters (only the
encoder trains) and returns it with its LGSSM, the exact reference for diagnostics tests.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyro.poutine as poutine
import torch
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.kalman import LinearGaussianSSM
from pyrodyn.dynamics.base import LinearDynamics
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.params import local_params
from pyrodyn.models.svae import SVAE
from pyrodyn.nn.decoders import LinearDecoder
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder
from pyrodyn.priors.dynamical import DynamicalPrior


def svae_to_lgssm(model: SVAE) -> LinearGaussianSSM:
    """The LGSSM an SVAE defines with its current parameters (see the module docstring).

    Raises:
        ValueError: a part of the model is not linear-Gaussian (another prior or dynamics,
            inputs, a non-linear decoder, a non-Gaussian likelihood or a decoded scale).
    """
    prior = model.prior
    if not isinstance(prior, DynamicalPrior) or type(prior.dynamics) is not LinearDynamics:
        raise ValueError("the SVAE is an LGSSM only with a DynamicalPrior over LinearDynamics")
    dyn = prior.dynamics
    if dyn.input_dim:
        raise ValueError("LinearDynamics with inputs makes b time-varying; not an LGSSM here")
    rows, offsets, noise = [], [], []
    for m in model.modalities:
        lik, dec = model.likelihoods[m], model.decoders[m]
        if not isinstance(lik, Gaussian) or lik.scale_from_decoder or len(lik.feature_shape) != 1:
            raise ValueError(
                f"modality {m!r} needs a Gaussian likelihood of vectors with a scale that is "
                f"not decoded, got {type(lik).__name__}"
            )
        if not isinstance(dec, LinearDecoder) or set(dec.heads) != {"loc"}:
            raise ValueError(f"modality {m!r} needs a LinearDecoder, got {type(dec).__name__}")
        rows.append(dec.heads["loc"].weight)
        offsets.append(dec.heads["loc"].bias)
        noise.append(lik.scale.expand(lik.feature_shape) ** 2)
    with torch.no_grad():
        a = dyn.A.detach()
        eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
        return LinearGaussianSSM(
            init_mean=torch.zeros_like(dyn.b.detach()),
            init_cov=prior.init_scale.detach() ** 2 * eye,
            A=a.clone(),
            b=dyn.b.detach().clone(),
            Q=torch.diag(prior.noise_scale.detach().expand(a.shape[0]) ** 2),
            C=torch.cat(rows).detach().clone(),
            d=torch.cat(offsets).detach().clone(),
            R=torch.diag(torch.cat(noise).detach()),
        )


def lgssm_svae(
    latent_dim: int = 2,
    obs_dims: int | Mapping[str, int] = 3,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    init_scale: float = 1.0,
    noise_scale: float = 0.4,
    obs_scale: float = 0.5,
    spectral_radius: float = 0.9,
) -> tuple[SVAE, LinearGaussianSSM]:
    """An SVAE that is an LGSSM with random, frozen generative parameters, and that LGSSM.

    ``A`` is a random matrix rescaled to ``spectral_radius``; ``b``, the loadings and offsets
    are standard normal draws (offsets and ``b`` shrunk). Only the encoder keeps
    ``requires_grad``.

    Args:
        latent_dim: D.
        obs_dims: features of the single modality ``"y"``, or modality -> features.
        seed: seed of the parameters (and of the encoder's initialisation).
        dtype: dtype of the whole model (float64 keeps exact comparisons tight).
        init_scale: s0.
        noise_scale: sigma (every latent dimension).
        obs_scale: observation noise scale r (every feature).
        spectral_radius: of ``A``.

    Returns:
        ``(model, ssm)`` with ``ssm = svae_to_lgssm(model)``.
    """
    dims = {"y": int(obs_dims)} if isinstance(obs_dims, int) else dict(obs_dims)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))  # the encoder's initialisation, without touching callers
        model = SVAE(
            {m: Gaussian(f, scale=obs_scale, learn_scale=False) for m, f in dims.items()},
            latent_dim,
            encoder=TemporalConvEncoder(sum(dims.values()), latent_dim),
            init_scale=init_scale,
            noise_scale=noise_scale,
        ).to(dtype)
    a = torch.randn(latent_dim, latent_dim, generator=gen, dtype=dtype)
    a = a * (spectral_radius / torch.linalg.eigvals(a).abs().max())
    # the modules were built in the default dtype: set the scales again so they are exact
    model.prior.init_scale = torch.tensor(float(init_scale), dtype=dtype)
    model.prior.noise_scale = torch.full((latent_dim,), float(noise_scale), dtype=dtype)
    with torch.no_grad():
        for m in model.modalities:
            model.likelihoods[m].scale.fill_(float(obs_scale))
        model.prior.dynamics.A.copy_(a)
        model.prior.dynamics.b.copy_(0.3 * torch.randn(latent_dim, generator=gen, dtype=dtype))
        for m in model.modalities:
            head = model.decoders[m].heads["loc"]
            head.weight.copy_(torch.randn(head.weight.shape, generator=gen, dtype=dtype))
            head.bias.copy_(0.5 * torch.randn(head.bias.shape, generator=gen, dtype=dtype))
    for part in (model.prior, model.decoders, model.likelihoods):
        part.requires_grad_(False)
    return model, svae_to_lgssm(model)


def lgssm_batch(model: SVAE, y: Tensor) -> MultimodalBatch:
    """A batch of concatenated observations ``(B, T, Dy)`` (NaN: missing) split by modality."""
    sizes = [model.likelihoods[m].num_features for m in model.modalities]
    if y.dim() != 3 or y.shape[-1] != sum(sizes):
        raise ValueError(f"y must have shape (B, T, {sum(sizes)}), got {tuple(y.shape)}")
    parts = torch.split(y, sizes, dim=-1)
    return MultimodalBatch.from_tensors(dict(zip(model.modalities, parts)))


def model_log_joint(model: SVAE, batch: MultimodalBatch, z: Tensor) -> Tensor:
    """Pyro's ``log p(x, z)`` of ``model.model`` at latent trajectories ``z (B, T, D)``: ``(B,)``.

    The model is traced with its latent site conditioned on ``z``; every site's log-density
    (masks and scales applied as Pyro applies them) is summed per sequence. Parameters are read
    from the model's modules, never from Pyro's global param store.
    """
    # module-local parameters: the global param store could hold another model's values
    with local_params(model):
        site = model.prior._pyro_get_fullname("z")
        trace = poutine.trace(poutine.condition(model.model, data={site: z})).get_trace(batch)
        trace.compute_log_prob()
    total = z.new_zeros(batch.num_sequences)
    for name, node in trace.nodes.items():
        if node["type"] == "sample" and name != "sequences":
            total = total + node["log_prob"]
    return total


def fit_encoder(
    model: SVAE,
    batch: MultimodalBatch,
    steps: int = 200,
    lr: float = 0.02,
    seed: int = 0,
    *,
    cosine: bool = False,
) -> list[float]:
    """Trains the inference side alone (encoder and guide family) on the model's loss (Adam).

    The generative part stays the LGSSM's. Gradients are clipped at norm 5 (one early spike
    would inflate Adam's second moments for many steps). The global random state is restored
    afterwards.

    Args:
        model: an SVAE, e.g. from :func:`lgssm_svae`.
        batch: the data to fit.
        steps: Adam steps.
        lr: learning rate.
        seed: seed of the fit's random draws.
        cosine: decay the learning rate to 0 over ``steps`` (cosine annealing).

    Returns:
        The loss of every step.
    """
    params = [
        p
        for p in (*model.encoder.parameters(), *model.guide_family.parameters())
        if p.requires_grad
    ]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(int(steps), 1)) if cosine else None
    losses = []
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        for _ in range(int(steps)):
            opt.zero_grad()
            loss, _ = model.loss(batch)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            if sched is not None:
                sched.step()
            losses.append(float(loss.detach()))
    return losses


__all__ = [
    "fit_encoder",
    "lgssm_batch",
    "lgssm_svae",
    "model_log_joint",
    "svae_to_lgssm",
]

"""Timing (one thread) and accuracy of simulation-based calibration and leave-future-out CV.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_sbc_lfo.py [--fit-steps 300]

* LGSSM: an SVAE that is a linear-Gaussian state-space model (pyrodyn.testing.lgssm, D=2, 3
  Gaussian channels). Its guide (mean-field and structured) is fitted for ``--fit-steps`` Adam
  steps (encoder and guide family only; 0 skips fitting); SBC (200 simulations x 99 draws) and
  LFO (20 one-step origins, 100 draws, one held-out sequence of 100 steps) are timed, and the LFO
  elpd compared with the exact Kalman one-step predictive.
* Lorenz-63 sized SVAE: the sizes of configs/svae_lorenz63.yaml (16 latent dims, 3 Gaussian + 8
  ordinal (7 categories) + 3 Poisson channels, windows of 200 steps), untrained parameters
  (timing does not depend on them), data simulated from the model; SBC on 64 template windows,
  LFO on one window and on 16.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyro.poutine as poutine
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics import lfo, sbc
from pyrodyn.diagnostics.kalman import kalman_filter
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.likelihoods.ordinal import Ordinal
from pyrodyn.likelihoods.poisson import Poisson
from pyrodyn.models.svae import SVAE
from pyrodyn.objectives.elbo import TraceELBO
from pyrodyn.priors.structured import StructuredMarkov
from pyrodyn.testing.lgssm import fit_encoder, lgssm_batch, lgssm_svae


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def fit_guide(model: SVAE, batch: MultimodalBatch, steps: int) -> None:
    """Adam on the encoder and guide family only (the generative part is the LGSSM)."""
    model.elbo = TraceELBO(num_particles=4, vectorize_particles=True)
    fit_encoder(model, batch, steps, seed=0, cosine=True)


def lgssm_rows(fit_steps: int) -> list[str]:
    rows = []
    for family in ("mean_field", "structured"):
        model, ssm = lgssm_svae(2, 3, seed=0)
        if family == "structured":
            model.guide_family = StructuredMarkov(2).to(torch.float64)
        _, y = ssm.sample(16, 100, torch.Generator().manual_seed(1))
        train = lgssm_batch(model, y[:15])
        held_out = lgssm_batch(model, y[15:])
        if fit_steps:
            fit_guide(model, train, fit_steps)
        res_sbc, t_sbc = timed(lambda m=model, b=train: sbc(m, b))
        for future in ("prior", "guide"):
            res_lfo, t_lfo = timed(
                lambda m=model, b=held_out, f=future: lfo(m, b, future_latents=f)
            )
            exact = kalman_filter(ssm, y[15:]).step_log_lik[0, res_lfo.origins].sum().item()
            rows.append(
                f"| LGSSM | {family} | {fit_steps} | {t_sbc:.2f} | "
                f"{int(res_sbc.rejected().sum())}/{len(res_sbc.names)} "
                f"(min p {res_sbc.p_values.min():.1e}) | {future} | {t_lfo:.2f} | "
                f"{res_lfo.total:.2f} | {exact:.2f} | {np.median(res_lfo.khat):.2f} | "
                f"{int(res_lfo.refit.sum())} |"
            )
    return rows


def lorenz_sized(family: str) -> tuple[SVAE, MultimodalBatch]:
    torch.manual_seed(0)
    model = SVAE(
        {"gaussian": Gaussian(3), "ordinal": Ordinal(8, 7), "poisson": Poisson(3)},
        16,
        guide_family=family,
    )
    template = MultimodalBatch.from_tensors(
        {
            "gaussian": torch.zeros(64, 200, 3),
            "ordinal": torch.ones(64, 200, 8),
            "poisson": torch.zeros(64, 200, 3),
        }
    )
    with torch.no_grad():
        trace = poutine.trace(model.model).get_trace(template.without_observations())
    obs = {m: trace.nodes[f"likelihoods.{m}.obs"]["value"] for m in model.modalities}
    return model, MultimodalBatch.from_tensors(obs)


def lorenz_rows() -> list[str]:
    rows = []
    for family in ("mean_field", "structured"):
        model, batch = lorenz_sized(family)
        _, t_sbc = timed(lambda m=model, b=batch: sbc(m, b))
        for future in ("prior", "guide"):
            _, t_one = timed(
                lambda m=model, b=batch, f=future: lfo(m, b[torch.arange(1)], future_latents=f)
            )
            _, t_16 = timed(
                lambda m=model, b=batch, f=future: lfo(m, b[torch.arange(16)], future_latents=f)
            )
            rows.append(
                f"| Lorenz-63 sized | {family} | {t_sbc:.2f} | {future} | {t_one:.2f} | "
                f"{t_16:.2f} |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        "| model | guide | fit steps | SBC 200x99 (s) | SBC rejected (alpha 0.01) | "
        "LFO future latents | LFO 20 origins (s) | LFO elpd | exact Kalman | median k-hat | "
        "refits |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in lgssm_rows(args.fit_steps):
        print(row)
    print()
    print(
        "| model | guide | SBC 200x99 (s) | LFO future latents | LFO 20 origins, 1 window (s) "
        "| 16 windows (s) |"
    )
    print("|---|---|---|---|---|---|")
    for row in lorenz_rows():
        print(row)


if __name__ == "__main__":
    main()

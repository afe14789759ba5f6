"""Cost of the Fourier GP prior vs the dense time-domain GP prior, and the matmul/irfft crossover.

Per call, for D = 8 latents (one RBF GP each, length-scale 10 steps) and a batch of B trials:
recompute the prior from the kernel (spectral density, or kernel matrix + float64 Cholesky),
the KL of a mean-field posterior to it, one reparameterised sample and its map to time. Reports
the median wall time of forward and of forward + backward (1 thread).

    /work/tools/cpu exclusive .venv/bin/python scripts/bench_gp_prior.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial

import torch
from gpytorch.kernels import RBFKernel

import pyrodyn  # noqa: F401
from pyrodyn.priors.base import PriorContext
from pyrodyn.priors.gp import DenseGPPrior, FourierGPPrior
from pyrodyn.priors.gp.basis import FourierBasis


def kernel(d: int) -> RBFKernel:
    k = RBFKernel(batch_shape=torch.Size([d]))
    k.lengthscale = 10.0
    return k


def fourier_step(prior: FourierGPPrior, q_loc, q_raw, ctx) -> torch.Tensor:
    q = torch.distributions.Normal(q_loc, torch.nn.functional.softplus(q_raw))
    kl = prior.kl(q, ctx).sum()
    z = prior.to_latent(q.rsample(), ctx)  # (B, T, D)
    return kl + z.square().mean()


def dense_step(prior: DenseGPPrior, q_loc, q_raw, ctx) -> torch.Tensor:
    # KL(N(m, diag s) || N(0, K)) = 0.5 [tr(K^-1 S) + m^T K^-1 m - T + log|K| - log|S|]
    scale = torch.nn.functional.softplus(q_raw).double()
    chol = prior.scale_tril(prior._times(ctx))[0]  # (D, T, T) float64
    t = chol.shape[-1]
    kinv_diag = torch.diagonal(torch.cholesky_inverse(chol), dim1=-2, dim2=-1)  # (D, T)
    m = q_loc.double()
    alpha = torch.linalg.solve_triangular(chol, m.unsqueeze(-1), upper=False).squeeze(-1)
    logdet_k = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    kl = 0.5 * (
        (kinv_diag * scale**2).sum(-1)
        + (alpha**2).sum(-1)
        - t
        + logdet_k
        - 2 * torch.log(scale).sum(-1)
    )
    z = m + scale * torch.randn_like(m)  # sample, already in time: (B, D, T)
    return kl.sum().float() + z.transpose(-1, -2).square().mean().float()


def timed(fn, repeats: int, backward: bool) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        if backward:
            out.backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def prior_costs(lengths, batch: int, d: int, repeats: int, dense_max: int) -> list[dict]:
    rows = []
    for t in lengths:
        ctx = PriorContext(num_sequences=batch, num_steps=t)
        fp = FourierGPPrior(kernel=kernel(d))
        f = fp.basis(t, 1.0).num_coefficients
        loc = torch.zeros(batch, d, f, requires_grad=True)
        raw = torch.zeros(batch, d, f, requires_grad=True)
        fourier_step(fp, loc, raw, ctx)  # warm-up: basis, thresholds
        row = {"T": t, "F": f, "n": fp.basis(t, 1.0).n, "fft": fp.basis(t, 1.0).use_fft}
        row["fourier_fwd_s"] = timed(partial(fourier_step, fp, loc, raw, ctx), repeats, False)
        row["fourier_fwdbwd_s"] = timed(partial(fourier_step, fp, loc, raw, ctx), repeats, True)
        if t <= dense_max:
            dp = DenseGPPrior(kernel=kernel(d))
            dloc = torch.zeros(batch, d, t, requires_grad=True)
            draw = torch.zeros(batch, d, t, requires_grad=True)
            reps = max(1, repeats // 10) if t >= 1000 else repeats
            row["dense_fwd_s"] = timed(partial(dense_step, dp, dloc, draw, ctx), reps, False)
            row["dense_fwdbwd_s"] = timed(partial(dense_step, dp, dloc, draw, ctx), reps, True)
            row["speedup_fwdbwd"] = row["dense_fwdbwd_s"] / row["fourier_fwdbwd_s"]
        rows.append(row)
        print(json.dumps(row))
    return rows


def crossover(lengths, batch: int, d: int, repeats: int) -> list[dict]:
    """Coefficients -> time by cached-basis product vs irfft (pruned at l = 10 steps)."""
    rows = []
    for t in lengths:
        fp = FourierGPPrior(kernel=kernel(d))
        b = fp.basis(t, 1.0)
        mm = FourierBasis(t, b.n, 1.0, b.max_index, method="matmul")
        ff = FourierBasis(t, b.n, 1.0, b.max_index, method="fft")
        c = torch.randn(batch, d, b.num_coefficients)
        mm.to_time(c)
        row = {
            "T": t,
            "F": b.num_coefficients,
            "matmul_s": timed(partial(mm.to_time, c), repeats, False),
            "irfft_s": timed(partial(ff.to_time, c), repeats, False),
        }
        rows.append(row)
        print(json.dumps(row))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--latents", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dense-max", type=int, default=2000)
    parser.add_argument(
        "--crossover", type=int, nargs="*", default=[64, 128, 256, 512, 1024, 2048, 4096]
    )
    parser.add_argument("--out", default="bench_gp_prior.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    costs = prior_costs(args.lengths, args.batch, args.latents, args.repeats, args.dense_max)
    cross = crossover(args.crossover, 20, args.latents, args.repeats) if args.crossover else []
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "costs": costs, "crossover": cross}, f, indent=1)


if __name__ == "__main__":
    main()

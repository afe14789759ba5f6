"""Writes the synthetic multimodal recordings of the MTF configs (Rössler, Lorenz-96, symbolic).

Each file holds one recording ``(T, features)`` per modality plus ``true_state`` (the noise-free,
z-scored state, never fitted). The configs hold out the tail of the recording (``valid_fraction``)
and ``scripts/bench_mtf.py --truth FILE --modality true_state`` scores against it.

Usage::

    .venv/bin/python scripts/make_mtf_data.py --out runs/data --steps 100000
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from pyrodyn.data.lorenz_multimodal import make_system_multimodal
from pyrodyn.data.observe import categorical_octants
from pyrodyn.data.systems.lorenz63 import Lorenz63
from pyrodyn.data.systems.lorenz96 import Lorenz96
from pyrodyn.data.systems.rossler import Rossler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="runs/data")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rossler = make_system_multimodal(Rossler(), args.steps, seed=args.seed)
    np.savez(os.path.join(args.out, "rossler.npz"), **rossler)
    l96 = make_system_multimodal(Lorenz96(10), args.steps, num_ordinal=0, seed=args.seed)
    np.savez(os.path.join(args.out, "lorenz96.npz"), **l96)
    l63 = make_system_multimodal(Lorenz63(), args.steps, num_ordinal=0, num_poisson=0)
    octant = categorical_octants(l63["true_state"], one_hot=True).astype(np.float32)
    np.savez(
        os.path.join(args.out, "lorenz63_symbolic.npz"),
        octant=octant,
        true_state=l63["true_state"],
    )
    for name in ("rossler", "lorenz96", "lorenz63_symbolic"):
        with np.load(os.path.join(args.out, f"{name}.npz")) as f:
            print(name, {k: f[k].shape for k in f.files})


if __name__ == "__main__":
    main()

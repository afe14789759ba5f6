"""Writes the synthetic multimodal recordings of the MTF configs (Rössler, Lorenz-96, symbolic).

Each file holds one recording ``(T, features)`` per modality plus ``true_state`` (the noise-free,
z-scored state, never fitted). The configs hold out the tail of the recording (``valid_fraction``)
and ``scripts/bench_mtf.py --truth FILE --modality true_state`` scores against it. The same data
sets as ``pyrodyn data rossler|lorenz96|lorenz63_symbolic`` (one call for the three).

Usage::

    .venv/bin/python scripts/make_mtf_data.py --out runs/data --steps 100000
"""

from __future__ import annotations

import argparse
import os

from pyrodyn.app.examples import write_example_data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="runs/data")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    for name in ("rossler", "lorenz96", "lorenz63_symbolic"):
        path = os.path.join(args.out, f"{name}.npz")
        shapes = write_example_data(name, path, seed=args.seed, steps=args.steps)
        print(name, shapes)


if __name__ == "__main__":
    main()

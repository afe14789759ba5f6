"""Writes one small run directory per shipped config into tests/fixtures/runs/ (format fixtures).

Each run trains 2 steps on a tiny data set of the config's modalities, so the directory holds the
run-directory format of the code that wrote it (config.yaml, history.csv, checkpoint.pt).
The test suite checks that every fixture still loads with the current code.

    .venv/bin/python scripts/make_run_fixtures.py [--out tests/fixtures/runs] [--only CONFIG...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


# narrower layers keep the fixtures small (the format, not the width, is what they pin down)
SHRINK = {
    "ladid_pendulum": ["model.dynamics.hidden=[16,16]", "model.encoders.x.model_dim=16"],
    "ladid_pendulum_split": [
        "model.dynamics.hidden=[16,16]",
        "model.encoders.x.model_dim=16",
        "model.state_encoders.x.model_dim=16",
    ],
    "mmvm_polydigits": ["model.decoder_hidden=[16]"]
    + [f"model.encoders.m{i}.hidden=[16]" for i in range(3)],
    "mmvm_basicmotions": ["model.decoder_hidden=[16]"],
    "mmgpvae_digits": ["model.encoder_hidden=[16,8]", "model.decoder_hidden.images=[16,8]"],
}


def _lorenz_like(rng: np.random.Generator, steps: int, modalities: dict[str, int]) -> dict:
    t = np.arange(steps) * 0.1
    state = np.stack([np.sin(t), np.cos(1.3 * t), np.sin(0.7 * t)], 1)
    out = {}
    for m, n in modalities.items():
        proj = state @ rng.normal(size=(3, n))
        if m == "gaussian":
            out[m] = proj + 0.1 * rng.normal(size=proj.shape)
        elif m == "ordinal":
            out[m] = np.clip(np.round(proj + 4.0), 1, 7)
        elif m == "poisson":
            out[m] = rng.poisson(np.exp(0.3 * proj)).astype(float)
    return out


def tiny_data(stem: str, path: Path) -> None:
    """A tiny ``.npz`` with the modalities of the config ``stem``."""
    rng = np.random.default_rng(0)
    if stem in (
        "svae_lorenz63",
        "mtf_lorenz63",
        "mtf_lorenz63_3min",
        "mtf_lorenz63_gaussian_3min",
        "mtf_rossler",
    ):
        arrays = _lorenz_like(rng, 600, {"gaussian": 3, "ordinal": 8, "poisson": 3})
    elif stem == "mtf_lorenz63_ordinal_poisson":
        arrays = _lorenz_like(rng, 600, {"ordinal": 8, "poisson": 3})
    elif stem == "mtf_lorenz96":
        arrays = _lorenz_like(rng, 600, {"gaussian": 10, "poisson": 3})
    elif stem == "demo_tiny":
        arrays = _lorenz_like(rng, 300, {"gaussian": 3, "poisson": 3})
    elif stem == "mtf_lorenz63_symbolic":
        arrays = {"octant": np.eye(8)[rng.integers(0, 8, size=600)]}
    elif stem == "mmgpvae_digits":
        from pyrodyn.data.rotating_digits import make_rotating_digits

        arrays = make_rotating_digits(num_trials=10, num_steps=12, num_neurons=6, seed=0)
        arrays = {k: v for k, v in arrays.items() if k in ("spikes", "images")}
    elif stem == "mmvm_basicmotions":
        arrays = {
            m: rng.normal(size=(12, 100, 3)).astype(np.float32)
            for m in ("accelerometer", "gyroscope")
        }
    elif stem == "mmvm_polydigits":
        arrays = {
            m: rng.uniform(size=(20, 3, 10, 10)).astype(np.float32) for m in ("m0", "m1", "m2")
        }
    elif stem.startswith("ladid_pendulum"):
        from pyrodyn.data.pendulum import pendulum_arrays

        arrays = pendulum_arrays(num_trials=8, num_steps=60, seed=0)
        arrays = {k: v for k, v in arrays.items() if k in ("x", "time")}
    else:
        raise SystemExit(f"no tiny data recipe for config {stem!r}")
    np.savez(path, **arrays)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "runs"))
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="CONFIG",
        help="write these configs' fixtures only (the others are format contracts written by "
        "earlier versions: keep them)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pyrodyn = str(Path(sys.executable).with_name("pyrodyn"))
    with tempfile.TemporaryDirectory() as tmp:
        for config in sorted((ROOT / "configs").glob("*.yaml")):
            stem = config.stem
            if args.only and stem not in args.only:
                continue
            data = Path(tmp) / f"{stem}.npz"
            tiny_data(stem, data)
            run = out / stem
            if run.exists():
                shutil.rmtree(run)
            cmd = [
                pyrodyn, "fit", str(config), "--out", str(run),
                "--set", f"data.path={data}", "--set", "fit.steps=2", "--set", "fit.max_time=3600",
                "--set", "fit.valid_every=1000", "--set", "fit.checkpoint_every=1000",
            ]  # fmt: skip
            if stem.startswith("mtf") or stem == "demo_tiny":
                cmd += ["--set", "data.window=50"]
            if stem in ("mmgpvae_digits",):
                cmd += ["--set", "fit.batch_size=4"]
            cmd += [a for key in SHRINK.get(stem, ()) for a in ("--set", key)]
            env = dict(os.environ, OMP_NUM_THREADS="1")
            subprocess.run(cmd, check=True, env=env)
            for f in run.iterdir():
                if f.suffix == ".png":
                    f.unlink()
            cfg = (run / "config.yaml").read_text().replace(str(data), f"{stem}.npz")
            (run / "config.yaml").write_text(cfg)
            print(f"{stem}: {sum(f.stat().st_size for f in run.iterdir()) / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

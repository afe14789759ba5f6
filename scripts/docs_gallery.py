"""Regenerate the figures of docs/gallery/ (about a minute on one CPU thread).

Runs the command line on a small example, as a user would, and copies every figure the commands
write into ``docs/gallery/`` as palette PNGs (a few tens of KB each, fine to commit):

    pyrodyn data lorenz63 --steps 3000
    pyrodyn fit demo_tiny (2000 steps)   -> history.png
    pyrodyn evaluate                     -> generated.png
    pyrodyn diagnose (no --data: LFO on the validation tail) -> diagnostics/*.png

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python scripts/docs_gallery.py [--out docs/gallery]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: gallery file -> (figure in the run directory, the command that writes it)
FIGURES = {
    "fit-history.png": ("history.png", "fit"),
    "evaluate-generated.png": ("generated.png", "evaluate"),
    "diagnose-sbc.png": ("diagnostics/sbc.png", "diagnose"),
    "diagnose-lfo.png": ("diagnostics/lfo.png", "diagnose"),
    "diagnose-ppc.png": ("diagnostics/ppc.png", "diagnose"),
    "diagnose-calibration.png": ("diagnostics/calibration.png", "diagnose"),
    "diagnose-khat.png": ("diagnostics/khat.png", "diagnose"),
    "diagnose-latents.png": ("diagnostics/latents.png", "diagnose"),
    "diagnose-spectra.png": ("diagnostics/spectra.png", "diagnose"),
    "diagnose-attractor.png": ("diagnostics/attractor.png", "diagnose"),
}


def pyrodyn(*argv: str) -> None:
    """Runs one ``pyrodyn`` command in this process; stops the script when it fails."""
    from pyrodyn.app.cli import main

    print("$ pyrodyn", " ".join(argv), flush=True)
    status = main(["--threads", "1", *argv])
    if status:
        sys.exit(f"pyrodyn {argv[0]} failed with status {status}")


def shrink(src: Path, dst: Path) -> None:
    """Copies a PNG as a 256-colour palette image (line plots lose nothing visible)."""
    from PIL import Image

    with Image.open(src) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            dst, optimize=True
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery")
    parser.add_argument("--steps", type=int, default=2000, help="fit steps (default 2000)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data, run = os.path.join(tmp, "lorenz63.npz"), os.path.join(tmp, "run")
        pyrodyn("data", "lorenz63", "--steps", "3000", "--out", data)
        overrides = [f"data.path={data}", f"fit.steps={args.steps}", "fit.lr=3e-3"]
        overrides += ["fit.valid_every=100", "fit.checkpoint_every=1000"]
        pyrodyn("fit", "demo_tiny", *(a for o in overrides for a in ("--set", o)), "--out", run)
        pyrodyn("evaluate", run, "--data", data)
        # no --data: leave-future-out CV scores the validation tail the fit kept out
        pyrodyn("diagnose", run)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, (figure, _) in FIGURES.items():
            src = Path(run) / figure
            if not src.exists():
                sys.exit(f"{figure} was not written; the gallery page expects it")
            shrink(src, args.out / name)
    for name in FIGURES:
        print(f"{args.out / name}: {(args.out / name).stat().st_size // 1024} KB")
    print(f"gallery written in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

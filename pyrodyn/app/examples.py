"""Shipped configurations and example data sets by name (`pyrodyn configs`, `pyrodyn data`).

Every shipped config names the example data set it was written for; ``pyrodyn data NAME --out
FILE.npz`` writes that data set with pyrodyn's own simulators (nothing is downloaded), so every
config runs in an empty directory with only the installed package::

    pyrodyn data lorenz63 --out lorenz63.npz
    pyrodyn fit mtf_lorenz63 --set data.path=lorenz63.npz --set fit.max_time=600
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np

#: The package folder that holds the shipped ``*.yaml`` configurations.
CONFIG_PACKAGE = "pyrodyn"
CONFIG_FOLDER = "configs"


def shipped_config_folder() -> str:
    """The folder of the shipped ``*.yaml`` configurations in the installed package."""
    return os.fspath(resources.files(CONFIG_PACKAGE).joinpath(CONFIG_FOLDER))


def shipped_configs() -> dict[str, str]:
    """``{name: path}`` of the configurations shipped in the package (name = file stem)."""
    folder = resources.files(CONFIG_PACKAGE).joinpath(CONFIG_FOLDER)
    return {
        os.path.splitext(entry.name)[0]: os.fspath(entry)
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


def config_summary(path: str) -> str:
    """The first line of a config's header comment (what it fits, on what)."""
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                return line.lstrip("#").strip()
            if line.strip():
                break
    return ""


def shipped_config(name: str) -> str:
    """The file of the shipped config ``name`` (a trailing ``.yaml`` is allowed).

    Raises:
        FileNotFoundError: no shipped config of that name; the message lists the shipped ones.
    """
    shipped = shipped_configs()
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    if stem not in shipped:
        raise FileNotFoundError(
            f"no shipped config named {name!r}; shipped configs: {', '.join(shipped)}"
        )
    return shipped[stem]


def config_path(name_or_path: str | os.PathLike) -> str:
    """The file a ``pyrodyn fit`` argument names: an existing path, else a shipped config's name.

    Raises:
        FileNotFoundError: neither a file nor a shipped name; the message lists the shipped ones.
    """
    arg = os.fspath(name_or_path)
    if os.path.exists(arg):
        return arg
    shipped = shipped_configs()
    stem = arg[: -len(".yaml")] if arg.endswith(".yaml") else arg
    if stem in shipped:
        return shipped[stem]
    raise FileNotFoundError(
        f"config {arg!r} is neither a file nor a shipped config; shipped configs: "
        f"{', '.join(shipped)} (`pyrodyn configs` describes them)"
    )


def _lorenz63(seed: int, steps: int | None) -> dict[str, np.ndarray]:
    from pyrodyn.data.lorenz_multimodal import make_lorenz63_multimodal

    return make_lorenz63_multimodal(steps or 100_000, seed=seed)


def _lorenz63_symbolic(seed: int, steps: int | None) -> dict[str, np.ndarray]:
    from pyrodyn.data.lorenz_multimodal import make_system_multimodal
    from pyrodyn.data.observe import categorical_octants
    from pyrodyn.data.systems import Lorenz63

    rec = make_system_multimodal(
        Lorenz63(), steps or 100_000, num_ordinal=0, num_poisson=0, seed=seed
    )
    octant = categorical_octants(rec["true_state"], one_hot=True).astype(np.float32)
    return {"octant": octant, "true_state": rec["true_state"]}


def _rossler(seed: int, steps: int | None) -> dict[str, np.ndarray]:
    from pyrodyn.data.lorenz_multimodal import make_system_multimodal
    from pyrodyn.data.systems import Rossler

    return make_system_multimodal(Rossler(), steps or 100_000, seed=seed)


def _lorenz96(seed: int, steps: int | None) -> dict[str, np.ndarray]:
    from pyrodyn.data.lorenz_multimodal import make_system_multimodal
    from pyrodyn.data.systems import Lorenz96

    return make_system_multimodal(Lorenz96(10), steps or 100_000, num_ordinal=0, seed=seed)


def _pendulum(seed: int, steps: int | None) -> dict[str, np.ndarray]:
    from pyrodyn.data.pendulum import pendulum_arrays

    return pendulum_arrays(400, steps or 60, seed=seed)


def _rotating_digits(seed: int, steps: int | None) -> dict[str, np.ndarray]:
    from pyrodyn.data.rotating_digits import make_rotating_digits

    return make_rotating_digits(num_steps=steps or 60, seed=seed)


def _polydigits(seed: int, steps: int | None) -> dict[str, np.ndarray]:
    from pyrodyn.data.polydigits import polydigits_arrays

    return polydigits_arrays(3, canvas=10, seed=seed)


def _basicmotions(seed: int, steps: int | None) -> dict[str, np.ndarray]:
    from pyrodyn.data.basicmotions import basicmotions_arrays

    return basicmotions_arrays("all")  # recorded data: the seed changes nothing


@dataclass(frozen=True)
class ExampleData:
    """One example data set: what it is, which configs use it and how it is made."""

    description: str
    configs: tuple[str, ...]
    make: Callable[[int, int | None], dict[str, np.ndarray]]
    takes_steps: bool = True


#: name -> :class:`ExampleData`. Recordings default to 100000 steps (the configs train on the
#: first half and hold out the rest).
EXAMPLE_DATA: dict[str, ExampleData] = {
    "lorenz63": ExampleData(
        "Lorenz-63, 3 Gaussian + 8 ordinal (7 levels) + 3 Poisson channels, dt 0.05, 100000 steps",
        (
            "mtf_lorenz63",
            "mtf_lorenz63_3min",
            "mtf_lorenz63_gaussian_3min",
            "mtf_lorenz63_ordinal_poisson",
            "svae_lorenz63",
            "demo_tiny",
        ),
        _lorenz63,
    ),
    "lorenz63_symbolic": ExampleData(
        "Lorenz-63 seen only through its octant (8-class one-hot), dt 0.05, 100000 steps",
        ("mtf_lorenz63_symbolic",),
        _lorenz63_symbolic,
    ),
    "rossler": ExampleData(
        "Rössler, 3 Gaussian + 8 ordinal + 3 Poisson channels, dt 0.15, 100000 steps",
        ("mtf_rossler",),
        _rossler,
    ),
    "lorenz96": ExampleData(
        "Lorenz-96 (N=10, F=8), 10 Gaussian + 3 Poisson channels, dt 0.05, 100000 steps",
        ("mtf_lorenz96",),
        _lorenz96,
    ),
    "pendulum": ExampleData(
        "400 pendulums with their own g/L and damping, 16-dim noisy views, 60 steps each",
        ("ladid_pendulum", "ladid_pendulum_split"),
        _pendulum,
    ),
    "rotating_digits": ExampleData(
        "300 trials of a rotating digit image + 100 Poisson neurons, 60 bins each",
        ("mmgpvae_digits",),
        _rotating_digits,
    ),
    "polydigits": ExampleData(
        "PolyDigits: 3 image modalities (3, 10, 10) of one digit class, static samples",
        ("mmvm_polydigits",),
        _polydigits,
        takes_steps=False,
    ),
    "basicmotions": ExampleData(
        "BasicMotions: real smartwatch accelerometer + gyroscope, 80 trials "
        "(pip install 'pyrodyn[basicmotions]')",
        ("mmvm_basicmotions",),
        _basicmotions,
        takes_steps=False,
    ),
}


def write_example_data(
    name: str, out: str | os.PathLike, *, seed: int = 0, steps: int | None = None
) -> dict[str, tuple[int, ...]]:
    """Writes the example data set ``name`` to ``out`` (``.npz``); returns its array shapes.

    Args:
        name: a key of :data:`EXAMPLE_DATA`.
        out: the output file.
        seed: the simulation's seed.
        steps: steps per recording or trial (default: the data set's; not for static sets).

    Raises:
        ValueError: unknown name (lists the data sets), ``out`` not ending in ``.npz``, or
            ``steps`` < 2 or given for a static set.
        ImportError: the data set needs an optional extra (the message names it).
    """
    if name not in EXAMPLE_DATA:
        raise ValueError(f"unknown data set {name!r}; data sets: {', '.join(EXAMPLE_DATA)}")
    spec = EXAMPLE_DATA[name]
    if steps is not None and (not spec.takes_steps or int(steps) < 2):
        raise ValueError(
            f"--steps must be >= 2 and applies to sequence data sets only; {name} "
            + ("takes steps" if spec.takes_steps else "has none")
            + f", got {steps}"
        )
    out = os.fspath(out)
    if not out.endswith(".npz"):
        raise ValueError(f"--out must be an .npz file, got {out!r}")
    arrays = spec.make(int(seed), None if steps is None else int(steps))
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return {k: tuple(v.shape) for k, v in arrays.items()}


__all__ = [
    "EXAMPLE_DATA",
    "ExampleData",
    "config_path",
    "config_summary",
    "shipped_config",
    "shipped_config_folder",
    "shipped_configs",
    "write_example_data",
]

"""The ``pyrodyn configs`` and ``pyrodyn data`` subcommands: the shipped configs and example data.

Kept apart from :mod:`pyrodyn.app.cli` (which registers them in its ``COMMANDS``) so that each file
holds one concern: these two only read what the package ships.
"""

from __future__ import annotations

import argparse
import sys


def add_configs(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn configs``."""
    p.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="a shipped config: print its YAML (e.g. `pyrodyn configs mtf_lorenz63 > my.yaml`); "
        "none: list them",
    )
    p.add_argument(
        "--path",
        action="store_true",
        help="print the config's file path instead (without NAME: the folder of the configs)",
    )


def cmd_configs(args: argparse.Namespace) -> int:
    """Lists the shipped configurations, one line each, or prints one (its YAML or its path)."""
    from pyrodyn.app.examples import (
        EXAMPLE_DATA,
        config_summary,
        shipped_config,
        shipped_config_folder,
        shipped_configs,
    )

    if args.name is not None:
        path = shipped_config(args.name)
        if args.path:
            print(path)
        else:
            with open(path) as f:
                sys.stdout.write(f.read())
        return 0
    if args.path:
        print(shipped_config_folder())
        return 0
    data_of = {c: name for name, spec in EXAMPLE_DATA.items() for c in spec.configs}
    for name, path in shipped_configs().items():
        data = f"  [pyrodyn data {data_of[name]}]" if name in data_of else ""
        print(f"{name:24s} {config_summary(path)}{data}")
    return 0


def add_data(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn data``."""
    from pyrodyn.app.examples import EXAMPLE_DATA

    p.add_argument("name", nargs="?", help=f"data set: {', '.join(EXAMPLE_DATA)} (none: list)")
    p.add_argument("--out", help="output .npz (default NAME.npz)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    p.add_argument("--steps", type=int, help="steps per recording or trial (default: the set's)")


def cmd_data(args: argparse.Namespace) -> int:
    """Writes an example data set (simulated here; nothing is downloaded)."""
    from pyrodyn.app.examples import EXAMPLE_DATA, write_example_data

    if args.name is None:
        for name, spec in EXAMPLE_DATA.items():
            print(f"{name:18s} {spec.description}; configs: {', '.join(spec.configs)}")
        return 0
    out = args.out or f"{args.name}.npz"
    shapes = write_example_data(args.name, out, seed=args.seed, steps=args.steps)
    print(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in shapes.items()))
    return 0

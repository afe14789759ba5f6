"""The ``pyrodyn`` command: fit, generate, encode, evaluate, diagnose, demo, convert (DESIGN.md).

Each subcommand is one function ``cmd_<name>(args) -> int`` plus one entry in :data:`COMMANDS`
(``name -> (help, add_arguments, run)``); adding a subcommand is one function and one line.

A failing command exits non-zero with a one-line error on stderr; ``PYRODYN_DEBUG=1`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence

from pyrodyn.app.cli_examples import add_configs, add_data, cmd_configs, cmd_data
from pyrodyn.app.config import apply_overrides, load_yaml

logger = logging.getLogger("pyrodyn")


def add_trust(p: argparse.ArgumentParser) -> None:
    """``--trust MODULE`` of the commands that open a run directory someone else may have made."""
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module (with its submodules) whose classes the run's config.yaml may name besides "
        "pyrodyn, torch and gpytorch; its code runs on import (repeatable)",
    )


# ---------------------------------------------------------------------------- fit
def add_fit(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn fit``."""
    p.add_argument("config", help="YAML configuration file, or the name of a shipped one")
    p.add_argument("--out", help="run directory (default: runs/<config name>-<UTC time>)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config entry, e.g. --set fit.max_time=600 (YAML-typed; repeatable)",
    )
    p.add_argument("--device", help="torch device (cpu, cuda); overrides the config")
    p.add_argument("--seed", type=int, help="random seed; overrides the config")
    p.add_argument(
        "--devices",
        type=int,
        help="processes (CPU cores or GPUs) for data-parallel fitting; overrides fit.devices",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--allow-changed-fit",
        action="store_true",
        help="with --resume: let optimiser settings (fit.lr, fit.schedules, ...) differ from the "
        "run's; the change is recorded in its config.yaml",
    )


def cmd_fit(args: argparse.Namespace) -> int:
    """Fits the configured model into a run directory."""
    from pyrodyn.app.fitrun import fit_run

    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"device={args.device}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.devices is not None:
        overrides.append(f"fit.devices={args.devices}")
    from pyrodyn.app.examples import config_path

    cfg = apply_overrides(load_yaml(config_path(args.config)), overrides)
    fit_cfg = cfg.get("fit") or {}
    if fit_cfg.get("devices", 1) != 1:  # bad devices/strategy fail before a run directory exists
        from pyrodyn.infer.distributed import check_setup

        check_setup(fit_cfg["devices"], fit_cfg.get("strategy", "ddp"), cfg.get("device", "cpu"))
    if args.out:
        out = args.out
    elif args.resume:
        raise ValueError("--resume needs --out RUN_DIR (the run to continue)")
    else:
        stem = os.path.splitext(os.path.basename(args.config))[0]
        out = os.path.join("runs", f"{stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")
    if args.allow_changed_fit and not args.resume:
        raise ValueError("--allow-changed-fit applies to --resume only")
    result, _ = fit_run(cfg, out, resume=args.resume, allow_changed_fit=args.allow_changed_fit)
    last = result.history[-1] if result.history else {}
    loss = f"{last['loss']:.4g}" if "loss" in last else "n/a"
    print(
        f"fitted {result.steps_done} steps ({result.stopped_reason}) in {result.elapsed:.1f} s, "
        f"final loss {loss}; run directory: {out}"
    )
    return 0


# ---------------------------------------------------------------------------- generate
def add_generate(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn generate``."""
    p.add_argument("run_dir", help="run directory written by `pyrodyn fit`")
    add_trust(p)
    p.add_argument("--steps", type=int, required=True, help="steps per generated trial")
    p.add_argument("--trials", type=int, default=1, help="number of trials (default 1)")
    p.add_argument("--burn-in", type=int, default=0, help="steps generated and dropped first")
    p.add_argument("--init", help=".npz whose trials seed the initial states (default: data.path)")
    p.add_argument("--out", help="output .npz (default RUN_DIR/generated.npz)")


def cmd_generate(args: argparse.Namespace) -> int:
    """Free-running generation in data units."""
    from pyrodyn.app.generate import generate_run

    out, arrays = generate_run(
        args.run_dir,
        args.steps,
        trials=args.trials,
        burn_in=args.burn_in,
        init=args.init,
        out=args.out,
    )
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    print(f"wrote {out}: {shapes}")
    return 0


# ---------------------------------------------------------------------------- encode
def add_encode(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn encode``."""
    p.add_argument("run_dir", help="run directory written by `pyrodyn fit`")
    add_trust(p)
    p.add_argument("--data", required=True, help=".npz with the configured modalities")
    p.add_argument("--out", help="output .npz (default RUN_DIR/encoded.npz)")


def cmd_encode(args: argparse.Namespace) -> int:
    """Posterior-mean latents per trial."""
    from pyrodyn.app.encode import encode_run

    out, arrays = encode_run(args.run_dir, args.data, out=args.out)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    print(f"wrote {out}: {shapes}")
    return 0


# ---------------------------------------------------------------------------- evaluate
def add_evaluate(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn evaluate``."""
    p.add_argument("run_dir", help="run directory written by `pyrodyn fit`")
    add_trust(p)
    p.add_argument(
        "--data",
        help=".npz with the configured modalities (needed for sequences; static runs default to "
        "the held-out split of data.path)",
    )
    p.add_argument("--out", help="output JSON (default RUN_DIR/metrics.json)")
    p.add_argument("--steps", type=int, help="generated steps (default evaluate.steps or data)")
    p.add_argument("--burn-in", type=int, help="generated steps dropped first")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):  # per-latent / per-modality values of the static metrics
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Generates and computes the registered metrics."""
    from pyrodyn.app.evaluate import evaluate_run
    from pyrodyn.app.outputs import METRICS_FILE

    metrics = evaluate_run(
        args.run_dir, args.data, out=args.out, steps=args.steps, burn_in=args.burn_in
    )
    values = ", ".join(f"{k} = {_fmt(v)}" for k, v in metrics.items() if k != "evaluation")
    print(f"{values}; wrote {args.out or os.path.join(args.run_dir, METRICS_FILE)}")
    return 0


# ---------------------------------------------------------------------------- diagnose
def add_diagnose(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn diagnose``."""
    p.add_argument("run_dir", help="run directory written by `pyrodyn fit`")
    add_trust(p)
    p.add_argument("--data", help=".npz with the configured modalities (default data.path)")
    p.add_argument("--out", help="output folder (default RUN_DIR/diagnostics)")
    p.add_argument("-K", "--samples", type=int, default=100, help="guide draws per trial (K)")
    p.add_argument("--trials", type=int, default=64, help="trials (or windows) diagnosed")
    p.add_argument("--window", type=int, help="window length for a long recording")
    for flag, default, text in (
        ("--amortisation-steps", 0, "refinement steps of the amortisation gap (0: skipped)"),
        ("--sbc-sims", 200, "simulation-based calibration: simulated data sets (0: no SBC)"),
        ("--sbc-draws", 99, "posterior draws per SBC simulation"),
        ("--lfo-origins", 20, "leave-future-out CV: origins per held-out sequence (0: no LFO)"),
        ("--lfo-sequences", 4, "held-out sequences (windows of a recording) for LFO"),
        ("--lfo-horizon", 1, "steps predicted from each LFO origin"),
    ):
        p.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--seed", type=int, default=0, help="random seed of the draws, SBC and LFO")


def cmd_diagnose(args: argparse.Namespace) -> int:
    """Verdicts (SBC, LFO, PPC, k-hat), posterior.nc, LOO, figures, diagnostics.md/json."""
    from pyrodyn.app.diagnose import diagnose_run

    out, summary = diagnose_run(
        args.run_dir,
        args.data,
        out=args.out,
        num_samples=args.samples,
        num_trials=args.trials,
        window=args.window,
        amortisation_steps=args.amortisation_steps,
        figures=not args.no_figures,
        seed=args.seed,
        sbc_simulations=args.sbc_sims,
        sbc_draws=args.sbc_draws,
        lfo_origins=args.lfo_origins,
        lfo_sequences=args.lfo_sequences,
        lfo_horizon=args.lfo_horizon,
    )
    for v in summary["verdicts"]:
        print(f"{v['question']} {v['status']} ({v['check']})")
    print(f"wrote {os.path.join(out, 'diagnostics.md')} and {len(summary['files'])} files")
    return 0


# ---------------------------------------------------------------------------- demo
def add_demo(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn demo``."""
    p.add_argument("--out", default="pyrodyn-demo", help="output directory (default pyrodyn-demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--steps", type=int, help="training steps (default 4000: the budget)")
    p.add_argument(
        "--max-time", type=float, help="safety cap on the training time in seconds (default 240)"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    """Runs the embedded demo (no files needed)."""
    from pyrodyn.app.demo import run_demo

    threads = None if args.threads is not None else 1  # --threads wins
    summary = run_demo(
        args.out, seed=args.seed, max_time=args.max_time, steps=args.steps, threads=threads
    )
    print(json.dumps(summary, indent=2, default=str))
    print(f"pyrodyn demo: {summary['verdict']}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- convert
def add_convert(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pyrodyn convert``."""
    p.add_argument("run_dir", help="run directory written by an older `pyrodyn fit`")
    add_trust(p)


def cmd_convert(args: argparse.Namespace) -> int:
    """Rewrites the config.yaml of an old run directory in the current format."""
    from pyrodyn.app.rundir import convert_run

    result = convert_run(args.run_dir)
    if result["converted"]:
        moved = ", ".join(sorted(result["moved"])) or "-"
        print(
            f"converted {args.run_dir}: model keys moved to objective: {moved}; the old config is "
            f"kept as {result['backup']}"
        )
    else:
        print(f"{args.run_dir} is up to date; nothing to convert")
    return 0


#: name -> (help, add_arguments, run). One line per subcommand.
COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "fit": ("fit a configured model into a run directory", add_fit, cmd_fit),
    "generate": ("free-running generation in data units", add_generate, cmd_generate),
    "encode": ("posterior-mean latents per trial", add_encode, cmd_encode),
    "evaluate": ("generate and compute metrics.json", add_evaluate, cmd_evaluate),
    "diagnose": ("verdicts (SBC, LFO, PPC, k-hat), report and figures", add_diagnose, cmd_diagnose),
    "demo": ("embedded demo on data it generates itself", add_demo, cmd_demo),
    "convert": ("bring a run directory of an older pyrodyn up to date", add_convert, cmd_convert),
    "configs": (
        "list the shipped configurations, or print one (fit them by name)",
        add_configs,
        cmd_configs,
    ),
    "data": ("write an example data set the shipped configs use", add_data, cmd_data),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="pyrodyn", description="Multimodal generative models of dynamical systems."
    )
    from pyrodyn import __version__

    parser.add_argument("--version", action="version", version=f"pyrodyn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads (default: torch's choice; 1 is fastest for small models "
        "on a few shared cores)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        p.set_defaults(_run=run)
    return parser


def _one_line(err: BaseException) -> str:
    msg = " ".join(str(err).split())
    if isinstance(err, KeyError):
        msg = f"missing key {msg}"
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyrodyn`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # a fit's progress lines (off a terminal, e.g. a batch job) show without -v
    logging.getLogger("pyrodyn.fit").setLevel(logging.INFO)
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be >= 1, got {args.threads}")
            import torch

            torch.set_num_threads(args.threads)
        from pyrodyn.app.factory import restricted_imports

        if not hasattr(args, "trust"):  # fit and demo build the user's own config
            return int(args._run(args) or 0)
        with restricted_imports(args.trust):
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"pyrodyn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("PYRODYN_DEBUG"):
            raise
        print(f"pyrodyn {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Multi-process fitting on Lightning Fabric: ``fit(model, data, devices=N, strategy="ddp")``.

The single-process loop of :mod:`pyrodyn.infer.fit` runs on ``N`` ranks (processes), one per CPU
core or GPU, with PyTorch's ``DistributedDataParallel`` averaging gradients; Lightning Fabric
(the optional extra ``pyrodyn[distributed]``) launches the processes, sets up the process group
(gloo on CPU, NCCL on CUDA) and wraps the model. The design follows specs/ecosystem.md F.1:

* **Data sharding.** Every step draws one global batch of ``N * batch_size`` windows (or trials)
  from one seeded stream shared by all ranks, and rank ``r`` takes rows ``r*b .. (r+1)*b``: each
  rank sees its own windows (what ``DistributedSampler`` does for an epoch-based loader), and a step
  on ``N`` ranks of ``b`` sequences averages the same gradient as one process with ``N*b``
  sequences, provided every rank's loss is normalised by the same count (equal-length windows).
  The model's own randomness (guide draws, dropout) is seeded per rank.
* **Lazily created parameters.** One loss evaluation (with a backward pass) runs before the
  optimizer and the DDP wrapper are built; it also tells whether DDP must look for parameters a
  step leaves unused.
* **The objective is ``model.loss``**, so ELBO and non-ELBO models (MTF, MMVM, LaDID) alike work;
  the wrapper's ``forward`` calls it, which is what lets DDP synchronise the gradients.
* **Rank 0 writes**: ``checkpoint.pt`` (holding every rank's RNG state), ``history.csv``, the
  progress bar, validation and callbacks; the others follow its stop decisions. The loss in the
  history is the mean over ranks, i.e. the loss of the global batch.
* **Exact resume** from a checkpoint written with the same number of ranks.

Not ``nn.DataParallel`` (pyro issue #2354) and no ``JitTrace_ELBO``/``torch.compile``
(specs/ecosystem.md A.6).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyro
import torch
from torch import nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import NonFiniteLossError, NumericsWarning
from pyrodyn.infer.checkpoint import (
    CHECKPOINT_FILE,
    atomic_save,
    get_rng_state,
    load_checkpoint,
    set_rng_state,
)
from pyrodyn.infer.devices import check_model_devices, cpu_count, resolve_device
from pyrodyn.infer.history import HistoryWriter
from pyrodyn.infer.schedules import build_lr_schedule, check_clock, schedule_index

# the module (``pyrodyn.infer.fit`` the attribute is the function of the same name)
_fit = importlib.import_module("pyrodyn.infer.fit")
logger = logging.getLogger(__name__)

#: Strategies pyrodyn runs (all DistributedDataParallel). ``"ddp"`` picks how to start the
#: processes: none when they were started by ``torchrun``, ``fork`` on CPU, ``spawn`` on CUDA.
SUPPORTED_STRATEGIES = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")

_START_METHOD = {"ddp_spawn": "spawn", "ddp_fork": "fork", "ddp_notebook": "fork"}
_INSTALL_HINT = 'pip install "pyrodyn[distributed]"  (or: pip install "lightning>=2.2")'


@dataclass
class DistributedFitResult(_fit.FitResult):
    """:class:`~pyrodyn.infer.fit.FitResult` of a multi-process fit.

    Attributes:
        world_size: number of ranks that trained.
        strategy: the strategy that ran.
        rank_divergence: largest difference between the ranks' parameter fingerprints at the
            end (0.0 when the ranks hold identical parameters, as they should).
    """

    world_size: int = 1
    strategy: str = "ddp"
    rank_divergence: float = 0.0


# ---------------------------------------------------------------------------- checks
def _fit_defaults() -> dict[str, Any]:
    sig = inspect.signature(_fit.fit)
    return {
        k: p.default
        for k, p in sig.parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and k not in ("devices", "strategy")
    }


def _externally_launched() -> bool:
    """Whether this process is one rank of a job started by ``torchrun`` (or SLURM/MPI)."""
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def check_devices(devices: Any, device: str | torch.device) -> tuple[str, torch.device]:
    """Validates ``devices`` against what the machine offers.

    Args:
        devices: number of processes (ranks).
        device: ``"cpu"`` or ``"cuda"`` (without an index: rank ``r`` uses ``cuda:r``).

    Returns:
        ``(accelerator name for Fabric, resolved device)``.

    Raises:
        TypeError: ``devices`` is not an int.
        ValueError: ``devices < 1``, more processes than CPU cores or CUDA devices, CUDA asked for
            where none exists, or a device index together with several devices.
    """
    if isinstance(devices, bool) or not isinstance(devices, (int, np.integer)):
        raise TypeError(f"devices must be an int (number of processes), got {devices!r}")
    devices = int(devices)
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    dev = resolve_device(device)
    if dev.type == "cpu":
        if devices > cpu_count():
            raise ValueError(
                f"devices={devices} processes were asked for but this machine offers "
                f"{cpu_count()} CPU cores (os.cpu_count()); use devices <= {cpu_count()}"
            )
        return "cpu", dev
    if dev.type == "cuda":
        n = torch.cuda.device_count()
        if devices > n:
            raise ValueError(
                f"devices={devices} GPUs were asked for but this machine has {n} CUDA device(s)"
            )
        if dev.index is not None and devices > 1:
            raise ValueError(
                f"device={str(device)!r} names one GPU but devices={devices}; pass device='cuda' "
                "(rank r then uses cuda:r) or devices=1"
            )
        return "cuda", dev
    raise ValueError(
        f"device={str(device)!r}: multi-process fitting runs on 'cpu' or 'cuda', not {dev.type}"
    )


def check_strategy(strategy: Any, accelerator: str) -> str | None:
    """Validates ``strategy``; returns the process start method (None: already launched).

    Raises:
        TypeError: ``strategy`` is not a string.
        ValueError: Fabric does not know the name, or it is a Fabric strategy pyrodyn does not
            run (FSDP/DeepSpeed shard parameters, which the loop's clipping and checkpoints do
            not handle; ``dp`` is ``nn.DataParallel``, which breaks Pyro), or a fork start with
            CUDA.
    """
    if not isinstance(strategy, str):
        raise TypeError(f"strategy must be a string such as 'ddp', got {strategy!r}")
    from lightning.fabric.strategies import STRATEGY_REGISTRY

    known = STRATEGY_REGISTRY.available_strategies()
    if strategy not in known:
        raise ValueError(
            f"unknown strategy {strategy!r}: Lightning Fabric knows {sorted(known)}; pyrodyn "
            f"runs {list(SUPPORTED_STRATEGIES)}"
        )
    if strategy not in SUPPORTED_STRATEGIES:
        raise ValueError(
            f"strategy {strategy!r} is a Lightning Fabric strategy that pyrodyn does not run; "
            f"use one of {list(SUPPORTED_STRATEGIES)} (data-parallel: every rank holds the whole "
            "model)"
        )
    if _externally_launched():
        return None
    method = _START_METHOD.get(strategy)
    if method is None:  # "ddp": fork is cheap and safe on CPU; CUDA cannot be forked
        method = "fork" if accelerator == "cpu" else "spawn"
    if method == "fork" and accelerator == "cuda":
        raise ValueError(
            f"strategy {strategy!r} forks processes, which CUDA does not support; use "
            "strategy='ddp' or 'ddp_spawn' with device='cuda'"
        )
    return method


def check_setup(devices: Any, strategy: Any, device: str | torch.device) -> tuple[str, str | None]:
    """All checks of a multi-process setup; returns ``(accelerator, start method)``.

    Raises:
        ImportError: Lightning is not installed.
        TypeError, ValueError: see :func:`check_devices` and :func:`check_strategy`.
    """
    accelerator, _ = check_devices(devices, device)
    _import_fabric()
    return accelerator, check_strategy(strategy, accelerator)


def _import_fabric() -> Any:
    try:
        import lightning.fabric as lf
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"fit(devices>1) needs Lightning Fabric, which is not installed: {_INSTALL_HINT}"
        ) from err
    return lf


# ---------------------------------------------------------------------------- pieces
class _LossModule(nn.Module):
    """``forward`` = ``model.loss``: DDP synchronises gradients of what its forward computes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: MultimodalBatch, **scheduled: Any) -> Any:
        return self.model.loss(batch, **scheduled)


class _ShardedSampler:
    """Rank ``rank``'s rows of one global batch of ``world * batch_size`` sequences.

    Every rank draws the same global batch from one shared seeded stream and keeps its slice.
    """

    def __init__(
        self,
        data: MultimodalDataset | MultimodalBatch,
        batch_size: int,
        window: int | None,
        generator: torch.Generator,
        rank: int,
        world: int,
    ) -> None:
        self.inner = _fit._Sampler(data, batch_size * world, window, generator)
        n = batch_size * world
        if isinstance(data, MultimodalBatch):
            n = min(n, data.num_sequences)
        per = -(-n // world)  # ceil: the last rank may get fewer rows of a small batch
        self.rows = slice(rank * per, min((rank + 1) * per, n))

    def __call__(self) -> MultimodalBatch:
        return self.inner()[self.rows]


def _rank_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps ``seed`` (so one rank reproduces ``fit``); others get independent streams."""
    if rank == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0])


def _materialise(
    model: nn.Module, data: Any, opts: Mapping[str, Any], device: torch.device
) -> list[str]:
    """One loss evaluation and backward pass before any optimizer or wrapper exists.

    Creates lazily-made parameters (specs/ecosystem.md F.1) and returns the names of trainable
    parameters that received no gradient (DDP must then look for unused parameters each step).
    Runs on its own random streams, so the caller's are untouched.
    """
    schedules = dict(opts["schedules"] or {})
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(opts["seed"]) + 1)
        gen = torch.Generator().manual_seed(int(opts["seed"]) + 1)
        warm = _fit._Sampler(data, int(opts["batch_size"]), opts["window"], gen)().to(device)
        total, _ = model.loss(warm, **{k: fn(0) for k, fn in schedules.items()})
        unused: list[str] = []
        if torch.is_tensor(total) and total.requires_grad and bool(torch.isfinite(total)):
            total.backward()
            unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    return unused


_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.*)$", re.MULTILINE)


def _reraise(err: BaseException) -> None:
    """Turns a worker's failure into an exception of the same class where it is a known one."""
    import builtins

    from pyrodyn import exceptions as pex
    from pyrodyn.config import ConfigError

    text = str(err)
    found = _EXC_LINE.findall(text)
    if found:
        name, msg = found[-1]
        short = name.rsplit(".", 1)[-1]
        cls = {"NonFiniteLossError": NonFiniteLossError, "ConfigError": ConfigError}.get(short)
        cls = cls or getattr(pex, short, None) or getattr(builtins, short, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            raise cls(f"{msg} (raised on a distributed rank)") from err
        raise RuntimeError(f"distributed fit failed on a rank: {name}: {msg}") from err
    raise RuntimeError(f"distributed fit failed: {text.strip()}") from err


# ---------------------------------------------------------------------------- entry point
def fit_distributed(
    model: nn.Module,
    data: MultimodalDataset | MultimodalBatch,
    *,
    devices: int = 2,
    strategy: str = "ddp",
    **kwargs: Any,
) -> DistributedFitResult:
    """Fits ``model`` on ``devices`` processes; other arguments are those of ``fit``.

    ``batch_size`` is per rank (a step uses ``devices * batch_size`` sequences), ``device`` is
    ``"cpu"`` or ``"cuda"``, ``seed`` seeds the shared data stream and (per rank) the model's
    randomness. Callbacks and validation run on rank 0; callbacks (and the model, with spawn)
    must be picklable. ``fit(..., devices=N)`` calls this.

    Args:
        model: a model with ``loss(batch, **scheduled) -> (total, terms)``.
        data: training data ``MultimodalDataset`` or ``MultimodalBatch``.
        devices: number of processes (CPU cores or GPUs); at most what the machine offers.
        strategy: one of :data:`SUPPORTED_STRATEGIES`.
        **kwargs: keyword arguments of :func:`~pyrodyn.infer.fit`.

    Returns:
        A :class:`DistributedFitResult`; ``model`` (the object passed in) holds the trained
        parameters, on ``device``.

    Raises:
        ImportError: Lightning is not installed.
        ValueError: bad ``devices``/``device``/``strategy`` (see :func:`check_devices`,
            :func:`check_strategy`) or any of ``fit``'s checks.
        NonFiniteLossError: as in ``fit``.
    """
    defaults = _fit_defaults()
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise TypeError(f"fit_distributed got unexpected keyword arguments {unknown}")
    opts = {**defaults, **kwargs}
    _fit._check_args(
        model,
        data,
        opts["steps"],
        opts["lr"],
        opts["batch_size"],
        opts["window"],
        opts["valid_every"],
        opts["clip_norm"],
        opts["checkpoint_every"],
        opts["max_time"],
        opts["max_nonfinite"],
        opts["resume"],
        opts["checkpoint_dir"],
    )
    check_clock(opts["schedule_clock"], opts["max_time"])
    _fit._check_data("data", data)
    if opts["valid_data"] is not None:
        _fit._check_data("valid_data", opts["valid_data"])
    for name, fn in (opts["schedules"] or {}).items():
        if not callable(fn):
            raise TypeError(f"schedule {name!r} must be a callable step -> value, got {fn!r}")
    build_lr_schedule(opts["lr_schedule"], steps=opts["steps"])  # validates early
    accelerator, start_method = check_setup(devices, strategy, opts["device"])
    device = resolve_device(opts["device"])
    lf = _import_fabric()
    if isinstance(data, MultimodalBatch) and data.num_sequences < devices:
        raise ValueError(
            f"data holds {data.num_sequences} sequences, fewer than devices={devices} ranks"
        )

    # materialise on CPU in this process: the ranks inherit the parameters, and CUDA stays
    # uninitialised here (a requirement for forking)
    model.to("cpu")
    model.train()
    _fit._validate_against_model(model, data)
    if opts["valid_data"] is not None:
        _fit._validate_against_model(model, opts["valid_data"])
    unused = _materialise(model, data, opts, torch.device("cpu"))
    if not [p for p in model.parameters() if p.requires_grad]:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    if unused:
        logger.info("parameters without gradient at the first step: %s", unused[:10])

    from lightning.fabric.strategies import DDPStrategy

    ddp = (
        DDPStrategy(find_unused_parameters=bool(unused))
        if start_method is None
        else DDPStrategy(start_method=start_method, find_unused_parameters=bool(unused))
    )
    fabric = lf.Fabric(accelerator=accelerator, devices=int(devices), strategy=ddp)
    # Fabric announces the process group at INFO; show it only when pyrodyn logs at INFO too
    fabric_log = logging.getLogger("lightning.fabric")
    level = fabric_log.level
    if not logger.isEnabledFor(logging.INFO):
        fabric_log.setLevel(logging.WARNING)
    tmp = tempfile.mkdtemp(prefix="pyrodyn-ddp-")
    result_path = os.path.join(tmp, "result.pt")
    try:
        fabric.launch(_worker, model, data, opts, result_path)
        out = load_checkpoint(result_path)
    except Exception as err:
        from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

        if isinstance(err, ProcessRaisedException):
            _reraise(err)
        if isinstance(err, ProcessExitedException):
            raise RuntimeError(
                f"distributed fit: rank {err.error_index} exited with code {err.exit_code} "
                "(killed or out of memory?); rerun with resume=True to continue from the last "
                "checkpoint"
            ) from err
        raise
    finally:
        fabric_log.setLevel(level)
        shutil.rmtree(tmp, ignore_errors=True)
    for module, qualname, message in out["warnings"]:  # rank 0's, as a single process would
        warnings.warn(message, _warning_class(module, qualname), stacklevel=2)
    model.load_state_dict(out["state_dict"])
    model.to(device)
    return DistributedFitResult(
        model=model,
        history=out["history"],
        steps_done=out["steps_done"],
        stopped_reason=out["stopped_reason"],
        elapsed=out["elapsed"],
        rollbacks=out["rollbacks"],
        world_size=out["world_size"],
        strategy=strategy,
        rank_divergence=out["rank_divergence"],
    )


# ---------------------------------------------------------------------------- one rank
def _fingerprint(model: nn.Module) -> torch.Tensor:
    """A few float64 projections of all parameters (equal iff the ranks agree, in practice)."""
    flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
    w = torch.rand(flat.numel(), generator=torch.Generator().manual_seed(1234), dtype=flat.dtype)
    return torch.stack([flat.sum(), (flat * w).sum(), flat.abs().max(), flat.square().sum()])


def _gather(obj: Any, world: int) -> list[Any]:
    import torch.distributed as dist

    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _broadcast_int(value: int, device: torch.device) -> int:
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return int(t.item())


# codes rank 0 broadcasts before each step
_GO, _STOP_TIME, _STOP_CALLBACK, _STOP_STEPS = 0, 1, 2, 3


def _worker(
    fabric: Any, model: nn.Module, data: Any, opts: dict[str, Any], result_path: str
) -> None:
    """Runs :func:`_train` on one rank and writes rank 0's result to ``result_path``.

    The result (parameters, history, rank 0's warnings) goes through a file, not the launcher's
    return queue: a pipe holds 64 KiB, and a rank blocked writing a larger result into it never
    exits, while the launcher waits for it to exit before reading. Warnings of the other ranks
    are dropped (they repeat rank 0's).
    """
    main = int(fabric.global_rank) == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always" if main else "ignore")
        out = _train(fabric, model, data, opts)
    out["warnings"] = [
        [w.category.__module__, w.category.__qualname__, str(w.message)] for w in caught
    ]
    if main or _externally_launched():  # torchrun: every process is its own caller
        atomic_save(out, result_path)


def _warning_class(module: str, qualname: str) -> type[Warning]:
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        return UserWarning
    return cls if isinstance(cls, type) and issubclass(cls, Warning) else UserWarning


def _train(fabric: Any, model: nn.Module, data: Any, opts: dict[str, Any]) -> dict[str, Any]:
    """The training loop of one rank (mirrors :func:`pyrodyn.infer.fit.fit`)."""
    rank, world = int(fabric.global_rank), int(fabric.world_size)
    main = rank == 0
    device = torch.device(fabric.device)
    seed = int(opts["seed"])
    steps, batch_size = int(opts["steps"]), int(opts["batch_size"])
    schedules = dict(opts["schedules"] or {})
    clip_norm, max_time = opts["clip_norm"], opts["max_time"]
    checkpoint_every, max_nonfinite = int(opts["checkpoint_every"]), int(opts["max_nonfinite"])
    lr_mult = build_lr_schedule(opts["lr_schedule"], steps=steps)
    callbacks = list(opts["callbacks"]) if main else []

    model.to(device)
    model.train()
    check_model_devices(model, device)
    pyro.set_rng_seed(_rank_seed(seed, rank))
    generator = torch.Generator().manual_seed(seed)
    sampler = _ShardedSampler(data, batch_size, opts["window"], generator, rank, world)

    params = [p for p in model.parameters() if p.requires_grad]
    opt = _fit._build_optimizer(opts["optimizer"], params, float(opts["lr"]))
    base_lrs = [g["lr"] for g in opt.param_groups]

    start_step, elapsed0, lr_factor, bad_count = 0, 0.0, 1.0, 0
    history: list[dict[str, float]] = []
    ckpt_dir = opts["checkpoint_dir"]
    ckpt_path = None if ckpt_dir is None else os.path.join(os.fspath(ckpt_dir), CHECKPOINT_FILE)
    if opts["resume"] and ckpt_path is not None and os.path.exists(ckpt_path):
        ckpt = load_checkpoint(ckpt_path)
        if ckpt.get("format") != _fit.CHECKPOINT_FORMAT:
            raise ValueError(f"{ckpt_path!r} is not a resumable pyrodyn fit checkpoint")
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        generator.set_state(ckpt["generator"])
        ranks = ckpt.get("rng_ranks")
        if ranks is not None and len(ranks) == world:
            set_rng_state(ranks[rank], device)
        else:
            if main:
                warnings.warn(
                    f"resuming a checkpoint written by {int(ckpt.get('world_size', 1))} "
                    f"process(es) on {world}: training continues, but not bit-identically",
                    RuntimeWarning,
                    stacklevel=2,
                )
            set_rng_state(ckpt["rng"], device)
            pyro.set_rng_seed(_rank_seed(seed + int(ckpt["step"]), rank))
        start_step, elapsed0 = int(ckpt["step"]), float(ckpt["elapsed"])
        lr_factor, bad_count = float(ckpt["lr_factor"]), int(ckpt.get("bad_count", 0))
        history = [dict(r) for r in ckpt["history"]]
        if main:
            logger.info("resuming from %s at step %d on %d ranks", ckpt_path, start_step, world)
    elif opts["resume"] and ckpt_path is not None and main:
        logger.warning("resume requested but %s does not exist; starting afresh", ckpt_path)

    wrapped, fopt = fabric.setup(_LossModule(model), opt)

    writer = None
    valid_batches = None
    if main:
        if ckpt_path is not None:
            writer = HistoryWriter(os.path.join(os.fspath(ckpt_dir), _fit.HISTORY_FILE), history)
        if opts["valid_data"] is not None:
            chunk = max(batch_size, 64)
            valid_batches = [
                b.to(device)
                for b in _fit._validation_batches(opts["valid_data"], opts["window"], chunk)
            ]

    def save(step: int, elapsed: float, reason: str | None) -> None:
        if ckpt_path is None:
            return
        rngs = _gather(get_rng_state(device), world)  # every rank takes part
        if not main:
            return
        writer.flush()
        atomic_save(
            {
                "format": _fit.CHECKPOINT_FORMAT,
                "state_dict": model.state_dict(),
                "optimizer": opt.state_dict(),
                "lr_factor": lr_factor,
                "base_lrs": base_lrs,
                "bad_count": bad_count,
                "generator": generator.get_state(),
                "rng": rngs[0],
                "rng_ranks": rngs,
                "world_size": world,
                "step": step,
                "steps": steps,
                "history": history,
                "elapsed": elapsed,
                "stopped_reason": reason,
                "seed": seed,
                "config": dict(opts["config"] or {}),
            },
            ckpt_path,
        )

    state = _fit.FitState(model=model, optimizer=opt, step=start_step, steps=steps, history=history)
    for cb in callbacks:
        _fit._call_hook(cb, "on_fit_start", state)

    snapshot = _fit._snapshot(model, opt)
    rollbacks, step, reason, stop_next = 0, start_step, "steps", _GO
    t0 = time.perf_counter()
    bar = _fit._progress_bar(opts["progress"], steps, start_step) if main else None
    last_bar = 0.0
    elapsed = elapsed0
    try:
        while True:
            code = _GO
            if main:
                if step >= steps:
                    code = _STOP_STEPS
                elif stop_next != _GO:
                    code = stop_next
                elif max_time is not None and time.perf_counter() - t0 >= max_time:
                    code = _STOP_TIME
            code = _broadcast_int(code, device) if world > 1 else code
            if code != _GO:
                reason = {_STOP_TIME: "max_time", _STOP_CALLBACK: "callback"}.get(code, "steps")
                break
            # the time clock is read on rank 0 only and broadcast, so every rank uses one index
            idx = schedule_index(
                opts["schedule_clock"],
                step,
                steps,
                elapsed0 + time.perf_counter() - t0,
                elapsed0,
                max_time,
            )
            idx = _broadcast_int(idx, device) if world > 1 else idx
            values = {k: fn(idx) for k, fn in schedules.items()}
            mult = 1.0 if lr_mult is None else float(lr_mult(idx))
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * mult * lr_factor
            batch = sampler().to(device)
            fopt.zero_grad(set_to_none=True)
            total, terms = wrapped(batch, **values)
            local = dict(zip(["loss", *terms], _fit._to_floats(total, terms)))
            gathered = _gather(local, world)
            floats = {
                k: sum(g[k] for g in gathered if k in g) / sum(1 for g in gathered if k in g)
                for k in dict.fromkeys(k for g in gathered for k in g)
            }
            bad, bad_value = None, None
            if not math.isfinite(floats["loss"]):  # the mean over ranks: all ranks agree
                bad = next(
                    (k for k, v in floats.items() if k != "loss" and not math.isfinite(v)), "loss"
                )
                bad_value = floats[bad]
            else:
                fabric.backward(total)
                norm = torch.nn.utils.clip_grad_norm_(
                    params, math.inf if clip_norm is None else clip_norm
                )
                if not bool(torch.isfinite(norm)):  # gradients are all-reduced: same on all ranks
                    bad, bad_value = _fit._first_bad_grad(model), float(norm)
            if bad is not None:
                bad_count += 1
                rollbacks += 1
                if bad_count >= max_nonfinite:
                    raise NonFiniteLossError(
                        f"non-finite value at step {step + 1}: {bad} = {bad_value} "
                        f"({bad_count} times since the last good snapshot, each rolled back "
                        "with the learning rate halved); lower lr, raise clip_norm strictness "
                        "or check the data/initialisation"
                    )
                if main:
                    warnings.warn(
                        f"non-finite value at step {step + 1}: {bad} = {bad_value}; rolled back "
                        "to the last good state and halved the learning rate",
                        NumericsWarning,
                        stacklevel=2,
                    )
                fopt.zero_grad(set_to_none=True)
                _fit._restore(model, opt, snapshot)
                lr_factor *= 0.5
                continue
            fopt.step()
            step += 1
            elapsed = elapsed0 + time.perf_counter() - t0
            record: dict[str, float] = {
                "step": step,
                "time": elapsed,
                "lr": opt.param_groups[0]["lr"],
                **floats,
            }
            if main and valid_batches is not None:
                if step % int(opts["valid_every"]) == 0 or step == steps:
                    record["valid_loss"] = _fit._validation_loss(
                        model, valid_batches, values, seed, device
                    )
            history.append(record)
            if main:
                last_bar = _fit._log_step(record, writer, bar, last_bar, final=step == steps)
                state.step, state.record, state.elapsed = step, record, elapsed
                stop = False
                for cb in callbacks:
                    stop = bool(_fit._call_hook(cb, "on_step_end", state)) or stop
                stop_next = _STOP_CALLBACK if stop else _GO
            if step % _fit._SNAPSHOT_EVERY == 0 or step % checkpoint_every == 0:
                snapshot = _fit._snapshot(model, opt)
                bad_count = 0
            if step % checkpoint_every == 0 and step < steps:
                save(step, elapsed, None)
        elapsed = elapsed0 + time.perf_counter() - t0
        # compared before on_fit_end: a callback may legitimately change rank 0's weights there
        prints = _gather(_fingerprint(model), world)
        divergence = max(float((p - prints[0]).abs().max()) for p in prints)
        state.elapsed = elapsed
        # before the final checkpoint (rank 0 writes it), as in fit
        for cb in callbacks:
            _fit._call_hook(cb, "on_fit_end", state, reason)
        save(step, elapsed, reason)
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    if main and divergence > 0:
        warnings.warn(
            f"ranks ended with different parameters (fingerprint difference {divergence:.3g})",
            RuntimeWarning,
            stacklevel=2,
        )
    if main and reason == "max_time":
        logger.info("stopped after %d steps: max_time %.1f s reached", step, max_time)
    return {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": history,
        "steps_done": step,
        "stopped_reason": reason,
        "elapsed": elapsed,
        "rollbacks": rollbacks,
        "world_size": world,
        "rank_divergence": divergence,
    }


__all__ = [
    "SUPPORTED_STRATEGIES",
    "DistributedFitResult",
    "check_devices",
    "check_setup",
    "check_strategy",
    "fit_distributed",
]

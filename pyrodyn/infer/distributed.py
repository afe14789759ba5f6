"""Data-parallel fitting on Lightning Fabric: ``fit(model, data, devices=N, strategy="ddp")``.

The training loop of :mod:`pyrodyn.infer.loop` runs on ``N`` ranks (processes), one per CPU core
or GPU, each on a :class:`~pyrodyn.infer.strategy.FabricStrategy`: PyTorch's
``DistributedDataParallel`` averages the gradients; Lightning Fabric (the optional extra
``pyrodyn[distributed]``) launches the processes, sets up the process group (gloo on CPU, NCCL on
CUDA) and wraps the model. This module is only the launcher (specs/ecosystem.md F.1):

* **Preparation in the parent.** Checks, lazily created parameters and the data-dependent
  initialisation (:mod:`pyrodyn.infer.prepare`) run once here, on CPU, before the ranks start;
  the ranks inherit the prepared model (and CUDA stays uninitialised here, as forking requires).
  The first loss evaluation also tells whether DDP must look for parameters a step leaves unused.
* **Data sharding.** Every step draws one global batch of ``N * batch_size`` windows (or trials)
  from one seeded stream shared by all ranks, and rank ``r`` takes rows ``r*b .. (r+1)*b``
  (:class:`~pyrodyn.infer.sampler.ShardedSampler`): a step on ``N`` ranks of ``b`` sequences
  averages the same gradient as one process with ``N*b`` sequences, provided every rank's loss is
  normalised by the same count (equal-length windows). The model's own randomness (guide draws,
  dropout) is seeded per rank.
* **The objective is ``model.loss``**, so ELBO and non-ELBO models (MTF, MMVM, LaDID) alike work.
* **Rank 0 writes**: ``checkpoint.pt`` (holding every rank's RNG state), ``history.csv``, the
  progress bar, validation and callbacks; the others follow its stop decisions. The loss in the
  history is the mean over ranks, i.e. the loss of the global batch.
* **Exact resume** from a checkpoint written with the same number of ranks.

Not ``nn.DataParallel`` (pyro issue #2354) and no ``JitTrace_ELBO``/``torch.compile``
(specs/ecosystem.md A.6).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.infer.checkpoint import atomic_save, load_checkpoint
from pyrodyn.infer.devices import cpu_count, resolve_device
from pyrodyn.infer.loop import TrainingLoop
from pyrodyn.infer.options import FitOptions
from pyrodyn.infer.prepare import check_inputs, prepare_model
from pyrodyn.infer.state import FitResult
from pyrodyn.infer.strategy import FabricStrategy
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.params import local_params

logger = logging.getLogger(__name__)

#: Strategies pyrodyn runs (all DistributedDataParallel). ``"ddp"`` picks how to start the
#: processes: none when they were started by ``torchrun``, ``fork`` on CPU, ``spawn`` on CUDA.
SUPPORTED_STRATEGIES = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")

_START_METHOD = {"ddp_spawn": "spawn", "ddp_fork": "fork", "ddp_notebook": "fork"}
_INSTALL_HINT = 'pip install "pyrodyn[distributed]"  (or: pip install "lightning>=2.2")'


@dataclass
class DistributedFitResult(FitResult):
    """:class:`~pyrodyn.infer.state.FitResult` of a multi-process fit.

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


_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.*)$", re.MULTILINE)


def _reraise(err: BaseException) -> None:
    """Turns a worker's failure into an exception of the same class where it is a known one."""
    import builtins

    from pyrodyn import exceptions as pex

    text = str(err)
    found = _EXC_LINE.findall(text)
    if found:
        name, msg = found[-1]
        short = name.rsplit(".", 1)[-1]
        cls = getattr(pex, short, None) or getattr(builtins, short, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            raise cls(f"{msg} (raised on a distributed rank)") from err
        raise RuntimeError(f"distributed fit failed on a rank: {name}: {msg}") from err
    raise RuntimeError(f"distributed fit failed: {text.strip()}") from err


# ---------------------------------------------------------------------------- entry points
def fit_distributed(
    model: GenerativeModel,
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
        model: a :class:`~pyrodyn.models.base.GenerativeModel`.
        data: training data ``MultimodalDataset`` or ``MultimodalBatch``.
        devices: number of processes (CPU cores or GPUs); at most what the machine offers.
        strategy: one of :data:`SUPPORTED_STRATEGIES`.
        **kwargs: keyword arguments of :func:`~pyrodyn.infer.fit`.

    Returns:
        A :class:`DistributedFitResult`; ``model`` (the object passed in) holds the trained
        parameters, on ``device``.

    Raises:
        ImportError: Lightning is not installed.
        TypeError: an unknown keyword argument, or see ``fit``.
        ValueError: bad ``devices``/``device``/``strategy`` (see :func:`check_devices`,
            :func:`check_strategy`) or any of ``fit``'s checks.
        NonFiniteLossError: as in ``fit``.
    """
    options = FitOptions.from_kwargs(kwargs, caller="fit_distributed")
    return launch_distributed(model, data, options, devices=devices, strategy=strategy)


def launch_distributed(
    model: GenerativeModel,
    data: MultimodalDataset | MultimodalBatch,
    options: FitOptions,
    *,
    devices: int,
    strategy: str,
) -> DistributedFitResult:
    """Checks, prepares the model in this process, runs the loop on ``devices`` ranks.

    The launcher behind :func:`fit_distributed` and ``fit(..., devices=N)``; arguments and
    errors as there.
    """
    check_inputs(model, data, options)
    accelerator, start_method = check_setup(devices, strategy, options.device)
    device = resolve_device(options.device)
    lf = _import_fabric()
    if isinstance(data, MultimodalBatch) and data.num_sequences < devices:
        raise ValueError(
            f"data holds {data.num_sequences} sequences, fewer than devices={devices} ranks"
        )
    with local_params(model):
        unused = prepare_model(model, data, options, torch.device("cpu"), world_size=devices)

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
        fabric.launch(_worker, model, data, options, result_path)
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
        warnings.warn(message, _warning_class(module, qualname), stacklevel=3)
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
def _worker(
    fabric: Any, model: GenerativeModel, data: Any, options: FitOptions, result_path: str
) -> None:
    """Runs the training loop on one rank and writes rank 0's result to ``result_path``.

    The result (parameters, history, rank 0's warnings) goes through a file, not the launcher's
    return queue: a pipe holds 64 KiB, and a rank blocked writing a larger result into it never
    exits, while the launcher waits for it to exit before reading. Warnings of the other ranks
    are dropped (they repeat rank 0's).
    """
    strategy = FabricStrategy(fabric)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always" if strategy.is_main else "ignore")
        with local_params(model):
            result = TrainingLoop(model, data, options, strategy).run()
    out = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": result.history,
        "steps_done": result.steps_done,
        "stopped_reason": result.stopped_reason,
        "elapsed": result.elapsed,
        "rollbacks": result.rollbacks,
        "world_size": strategy.world_size,
        "rank_divergence": strategy.divergence,
        "warnings": [
            [w.category.__module__, w.category.__qualname__, str(w.message)] for w in caught
        ],
    }
    if strategy.is_main or _externally_launched():  # torchrun: every process is its own caller
        atomic_save(out, result_path)


def _warning_class(module: str, qualname: str) -> type[Warning]:
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        return UserWarning
    return cls if isinstance(cls, type) and issubclass(cls, Warning) else UserWarning


__all__ = [
    "SUPPORTED_STRATEGIES",
    "DistributedFitResult",
    "check_devices",
    "check_setup",
    "check_strategy",
    "fit_distributed",
    "launch_distributed",
]

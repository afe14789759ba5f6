"""Run directories: load a fitted run back (:func:`load_run`) and bring old ones up to date.

A run directory holds ``config.yaml`` (the resolved configuration, with library versions, the
recorded standardizer and the sizes injected into each likelihood), ``history.csv``,
``checkpoint.pt`` (loadable with ``weights_only=True``), ``metrics.json`` and figures.
"""

from __future__ import annotations

import os
import platform
import shutil
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pyro
import torch

from pyrodyn.app.assemble import build_likelihoods, build_model, load_data, split_data
from pyrodyn.app.config import dump_yaml, load_yaml, resolve
from pyrodyn.app.factory import restricted_imports
from pyrodyn.app.migrate import ConfigMigrationWarning
from pyrodyn.app.outdir import FAILED_FILE
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.data.standardizer import Standardizer
from pyrodyn.exceptions import PyrodynWarning
from pyrodyn.infer.checkpoint import CHECKPOINT_FILE
from pyrodyn.io import load_checkpoint
from pyrodyn.models.base import GenerativeModel

CONFIG_FILE = "config.yaml"
#: The report of ``fit.init`` (what the initialiser returned, and its seconds).
INIT_REPORT = "init.json"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a run depends on."""
    import gpytorch

    import pyrodyn

    return {
        "pyrodyn": pyrodyn.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "gpytorch": gpytorch.__version__,
        "numpy": np.__version__,
    }


@dataclass(frozen=True, eq=False)
class Run:
    """A fitted run directory, loaded by :func:`load_run`.

    Attributes:
        path: the run directory.
        model: the fitted model, in eval mode on the CPU.
        config: the resolved configuration (migrated in memory if it was an old one).
        standardizer: the map the training data were standardised with (None: not standardised).
        data_path: the file :attr:`data` is read from (``data.path`` unless another was given).
    """

    path: str
    model: GenerativeModel
    config: dict[str, Any]
    standardizer: Standardizer | None
    data_path: str | None

    def load_data(
        self, path: str | os.PathLike | None = None, *, standardize: bool = True
    ) -> MultimodalDataset:
        """Every trial of a data file with the run's modalities, in the model's units.

        Args:
            path: an ``.npz`` file (default :attr:`data_path`).
            standardize: map the data with the run's :attr:`standardizer` (the model's units);
                False keeps data units.

        Raises:
            FileNotFoundError: the file does not exist (the message says how to pass another).
        """
        source = self.data_path if path is None else os.fspath(path)
        if source is None or not os.path.exists(source):
            raise FileNotFoundError(
                f"the data file {source!r} of run {self.path!r} does not exist; pass another file: "
                f"pyrodyn.load_run({self.path!r}, data='FILE.npz') in Python, --data or --init "
                "FILE.npz on the command line"
            )
        return load_data(self.config, source, self.standardizer if standardize else None)

    @cached_property
    def _splits(self) -> tuple[MultimodalDataset, MultimodalDataset | None]:
        return split_data(self.config, self.load_data())

    @property
    def data(self) -> MultimodalDataset:
        """The training data: the training split of :attr:`data_path`, standardised as trained.

        Read on first access. Raises ``FileNotFoundError`` naming the path when the file is
        missing (load the run with ``data=`` to use another file).
        """
        return self._splits[0]

    @property
    def valid_data(self) -> MultimodalDataset | None:
        """The held-out split of :attr:`data_path` (None when the run held none out)."""
        return self._splits[1]

    @property
    def history_path(self) -> str:
        """``history.csv`` of the run."""
        return os.path.join(self.path, "history.csv")


def _check_dir(run_dir: str) -> str:
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir!r} does not exist")
    cfg_path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"{run_dir!r} is not a run directory (no {CONFIG_FILE})")
    return cfg_path


def _load_state(model: GenerativeModel, state: dict[str, Any], run_dir: str, cfg: dict) -> None:
    """Loads ``state`` into ``model``; a mismatch names what differs and the converter."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if torch.is_tensor(state[k]) and state[k].shape != own[k].shape
    )
    if missing or unexpected or shapes:
        written = (cfg.get("run") or {}).get("versions", {}).get("pyrodyn", "an unknown version")
        parts = [
            f"{what} {names[:5]}{' ...' if len(names) > 5 else ''}"
            for what, names in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shapes", shapes),
            )
            if names
        ]
        raise ValueError(
            f"checkpoint.pt of run {run_dir!r} (written by pyrodyn {written}) does not fit the "
            f"{type(model).__name__} built from its config.yaml: {'; '.join(parts)}. A run of an "
            f"older pyrodyn is brought up to date with `pyrodyn convert {run_dir}`"
        )
    model.load_state_dict(state)


def load_run(
    run_dir: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    trusted_modules: Iterable[str] = (),
) -> Run:
    """Loads a run directory written by ``pyrodyn fit``.

    The model is rebuilt from ``config.yaml`` (a config of an older pyrodyn is migrated in memory,
    with a :class:`~pyrodyn.app.migrate.ConfigMigrationWarning`) and ``checkpoint.pt`` is loaded
    with ``weights_only=True``. A run directory may come from someone else, so its config may
    only name classes of pyrodyn, torch, gpytorch and ``trusted_modules``, and every ``type``
    must be a class of its component kind: nothing else is imported or called.

    Args:
        run_dir: the run directory.
        data: the ``.npz`` that :attr:`Run.data` is read from (default: the config's
            ``data.path``); use it when the training file moved.
        trusted_modules: modules (with their submodules) whose classes the config may name
            besides pyrodyn, torch and gpytorch, e.g. ``["mylab"]`` for ``mylab.priors:MyPrior``.

    Returns:
        A :class:`Run`: ``model`` (eval mode, CPU), ``data`` (read on first access),
        ``config``, ``standardizer``, ``path``.

    Raises:
        FileNotFoundError: no such directory, no ``config.yaml`` or ``checkpoint.pt``, or a
            ``data`` file that does not exist.
        ValueError: a checkpoint that does not fit the model (the message names the converter).
        UntrustedCodeError: the config names a module that is not trusted, or a ``type`` that
            is not a class of its component kind (nothing of it was imported or called).
    """
    with restricted_imports(trusted_modules):
        return _load_run(os.fspath(run_dir), data)


def _load_run(path: str, data: str | os.PathLike | None) -> Run:
    cfg = resolve(load_yaml(_check_dir(path)))
    failed = os.path.join(path, FAILED_FILE)
    if os.path.exists(failed):
        with open(failed) as f:
            why = f.readline().strip()
        warnings.warn(
            f"the fit of run {path!r} failed ({why}); its checkpoint holds the last saved step",
            PyrodynWarning,
            stacklevel=3,
        )
    ckpt_path = os.path.join(path, CHECKPOINT_FILE)
    if not os.path.exists(ckpt_path):
        raise FileNotFoundError(
            f"run directory {path!r} has no {CHECKPOINT_FILE}: it holds no fitted model yet "
            "(`pyrodyn fit` writes it)"
        )
    if data is not None and not os.path.exists(data):
        raise FileNotFoundError(f"data file {os.fspath(data)!r} does not exist")
    model = build_model(cfg, build_likelihoods(cfg))
    _load_state(model, load_checkpoint(ckpt_path)["state_dict"], path, cfg)
    model.eval()
    std = (cfg.get("run") or {}).get("standardizer")
    return Run(
        path=path,
        model=model,
        config=cfg,
        standardizer=None if not std else Standardizer.from_dict(std),
        data_path=os.fspath(data) if data is not None else cfg["data"]["path"],
    )


def convert_run(
    run_dir: str | os.PathLike, *, trusted_modules: Iterable[str] = ()
) -> dict[str, Any]:
    """Rewrites the ``config.yaml`` of a run of an older pyrodyn in the current format.

    Model keys that moved into the objective are written under ``objective:``; the old file is
    kept as ``config.yaml.orig``. The converted run is then loaded to check that its checkpoint
    fits.

    Args:
        run_dir: the run directory.
        trusted_modules: as for :func:`load_run`.

    Returns:
        ``{"converted": bool, "moved": {key: value}, "backup": path or None}``.

    Raises:
        ValueError: the checkpoint still does not fit the model after the conversion.
        UntrustedCodeError: as for :func:`load_run` (checked before anything is written).
    """
    with restricted_imports(trusted_modules):
        return _convert_run(os.fspath(run_dir))


def _convert_run(path: str) -> dict[str, Any]:
    cfg_path = _check_dir(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigMigrationWarning)
        before = load_yaml(cfg_path)
        cfg = resolve(before)
    moved = {k: v for k, v in before.get("model", {}).items() if k not in cfg["model"]}
    migrated = any(issubclass(w.category, ConfigMigrationWarning) for w in caught)
    backup = None
    if migrated:
        backup = cfg_path + ".orig"
        shutil.copyfile(cfg_path, backup)
        dump_yaml(cfg, cfg_path)
    load_run(path)  # the checkpoint must fit the converted config
    return {"converted": migrated, "moved": moved, "backup": backup}


__all__ = ["CONFIG_FILE", "Run", "convert_run", "load_run", "versions"]

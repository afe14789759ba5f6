"""Atomic writes and safe loading of checkpoints (tensors and plain data only)."""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

import torch

from pyrodyn.exceptions import PyrodynError

#: The first torch whose ``weights_only`` loader has no known bypass (CVE-2025-32434).
SAFE_TORCH = (2, 6)


def check_safe_loader(version: str | None = None) -> None:
    """Refuses to load checkpoints with a torch whose ``weights_only`` loader can run code.

    Args:
        version: a torch version string (default: the installed torch).

    Raises:
        PyrodynError: torch is older than 2.6 (CVE-2025-32434).
    """
    version = str(torch.__version__ if version is None else version)
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None or tuple(int(g) for g in found.groups()) < SAFE_TORCH:
        raise PyrodynError(
            f"torch {version} can run code from a checkpoint even with weights_only=True "
            "(CVE-2025-32434); pyrodyn loads checkpoints only with torch >= 2.6: "
            "pip install 'torch>=2.6'"
        )


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    A run killed mid-write therefore leaves the previous checkpoint intact.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_orphan_temporaries(folder: str | os.PathLike) -> list[str]:
    """Deletes the ``.tmp-*.pt`` files an interrupted :func:`atomic_save` left in ``folder``.

    Call it before a fit starts writing into ``folder`` (no write of this process is under way).

    Returns:
        The names of the files deleted.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    gone = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(".tmp-") and name.endswith(".pt") and os.path.isfile(path):
            os.unlink(path)
            gone.append(name)
    return gone


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Loads a checkpoint with ``weights_only=True`` (tensors and plain data only).

    Raises:
        FileNotFoundError: no such file.
        PyrodynError: the installed torch's safe loader has a known bypass (torch < 2.6).
        pickle.UnpicklingError: the file holds objects other than tensors and plain data.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    check_safe_loader()
    return torch.load(path, map_location="cpu", weights_only=True)


__all__ = [
    "SAFE_TORCH",
    "atomic_save",
    "check_safe_loader",
    "load_checkpoint",
    "remove_orphan_temporaries",
]

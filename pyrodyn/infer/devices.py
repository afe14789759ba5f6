"""Device checks at the boundary of ``fit``: a device that exists, and a model on one device.

pyrodyn components never name a device (DESIGN.md, "Device-agnostic"): constants are buffers or
made with ``x.new_*``. What can still go wrong is caught here, before training starts, with a
message naming the argument and what the machine offers, instead of a CUDA assertion or a
"tensors on different devices" error from deep inside a loss.
"""

from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["check_model_devices", "cpu_count", "resolve_device"]


def cpu_count() -> int:
    """CPU cores this machine offers (``os.cpu_count()``; 1 when unknown)."""
    return os.cpu_count() or 1


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``.

    Raises:
        TypeError: ``device`` is neither a string nor a ``torch.device``.
        ValueError: the name is not a torch device, or it names an accelerator this machine (or
            this torch build) does not have.
    """
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a string such as 'cpu' or 'cuda' or a torch.device, got {device!r}"
        )
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device {device!r} is not a torch device (expected 'cpu', 'cuda', 'cuda:N', 'mps')"
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={str(device)!r} was asked for but CUDA is not available here "
                f"(torch {torch.__version__}, torch.cuda.is_available() is False); use "
                "device='cpu' or run on a machine with a GPU"
            )
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ValueError(
                f"device={str(device)!r} was asked for but this machine has {n} CUDA device(s) "
                f"(cuda:0 to cuda:{n - 1})"
            )
    elif dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device={str(device)!r} was asked for but MPS is not available here")
    return dev


def _same(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    return a.index is None or b.index is None or a.index == b.index


def check_model_devices(model: nn.Module, device: torch.device | str) -> None:
    """Checks that every tensor the model owns is on ``device`` (call after ``model.to``).

    Parameters and buffers follow ``model.to(device)``; a tensor stored as a plain attribute of a
    submodule does not, and later mixes devices inside the loss. This names such tensors.

    Raises:
        ValueError: a parameter, buffer or plain tensor attribute lies on another device.
    """
    device = torch.device(device)
    wrong: list[str] = []
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if not _same(t.device, device):
            wrong.append(f"{name} ({t.device})")
    for mod_name, mod in model.named_modules():
        for attr, value in vars(mod).items():
            if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
                if not _same(value.device, device):
                    where = f"{mod_name}.{attr}" if mod_name else attr
                    wrong.append(f"{where} ({value.device}; a plain tensor attribute)")
    if wrong:
        shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        raise ValueError(
            f"{type(model).__name__} mixes devices: fit runs on {device} but {shown} "
            "is elsewhere; register constant tensors with register_buffer (they then follow "
            "model.to) or create them with x.new_* from an input tensor"
        )

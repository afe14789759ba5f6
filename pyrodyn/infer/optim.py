"""Optimizer construction, the rollback snapshot, and the checks that make a step a divergence.

A step diverges when its loss (or one of its terms) is not finite, when torch's distribution
validation rejects a parameter or value during the loss (parameters that left their support, e.g.
"Expected parameter scale ... to satisfy the constraint"), when the gradient norm is not finite,
or when the update leaves a parameter non-finite. The loop then restores the last
:class:`Snapshot` and halves the learning rate.

The parameter check runs after every update, so it is one fused reduction (:func:`all_finite`);
the per-parameter search for the culprit runs only once something is wrong.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

#: Optimizers known by name.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "radam": torch.optim.RAdam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

# torch.distributions' messages when validation rejects a parameter or a value (Pyro re-raises
# them with the trace shapes appended)
_VALIDATION_MESSAGES = ("Expected parameter ", "Expected value argument ")
_SITE = re.compile(r"at site '([^']*)'")


def check_optimizer(optimizer: Any) -> None:
    """Raises unless ``optimizer`` is a name of :data:`OPTIMIZERS` or a callable.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: neither a name nor a callable.
    """
    if isinstance(optimizer, str):
        if optimizer.lower() not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {optimizer!r}; valid names: {sorted(OPTIMIZERS)} (or pass a "
                "torch optimizer class or a factory params, lr -> Optimizer)"
            )
    elif not callable(optimizer):
        raise TypeError(
            f"optimizer must be a name, a torch optimizer class or a factory, got {optimizer!r}"
        )


def build_optimizer(
    optimizer: str | type | Callable[..., torch.optim.Optimizer],
    params: list[nn.Parameter],
    lr: float,
) -> torch.optim.Optimizer:
    """A torch optimizer over ``params`` with learning rate ``lr``.

    Args:
        optimizer: a name of :data:`OPTIMIZERS`, a torch optimizer class, or a factory
            ``(params, lr=...) -> Optimizer``.
        params: the trainable parameters.
        lr: the base learning rate.

    Raises:
        ValueError: an unknown name.
        TypeError: neither a name nor a callable, or a factory that returns no optimizer.
    """
    check_optimizer(optimizer)
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer.lower()](params, lr=lr)
    opt = optimizer(params, lr=lr)
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer factory must return a torch.optim.Optimizer, got {type(opt).__name__}"
        )
    return opt


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that require gradients.

    Raises:
        ValueError: the model has none.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    return params


class Snapshot:
    """An in-memory copy of model and optimizer state: the target of a rollback."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer
        self.take()

    def take(self) -> None:
        """Copies the current state."""
        self._model = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self._optimizer = copy.deepcopy(self.optimizer.state_dict())

    def restore(self) -> None:
        """Puts the copied state back."""
        self.model.load_state_dict(self._model)
        self.optimizer.load_state_dict(copy.deepcopy(self._optimizer))


def loss_floats(total: torch.Tensor, terms: Mapping[str, Any]) -> dict[str, float]:
    """``{"loss": total, **terms}`` as floats, read with one device synchronisation."""
    vals = [total.detach().reshape(())]
    for v in terms.values():
        v = torch.as_tensor(v, device=vals[0].device, dtype=vals[0].dtype)
        vals.append(v.detach().reshape(()))
    return dict(zip(["loss", *terms], torch.stack(vals).tolist()))


def is_validation_error(err: BaseException) -> bool:
    """Whether ``err`` is torch's distribution validation rejecting a parameter or value."""
    return isinstance(err, ValueError) and any(m in str(err) for m in _VALIDATION_MESSAGES)


def describe_validation_error(err: BaseException) -> str:
    """``"the loss raised ValueError at site 's' (Expected parameter ... constraint ...)"``.

    Pyro re-raises torch's message under ``"Error while computing log_prob at site 's':"`` and
    appends the trace shapes; this keeps the site and the line that says what was rejected,
    without the printed tensor.
    """
    text = str(err)
    site = _SITE.search(text)
    where = f" at site '{site.group(1)}'" if site else ""
    lines = text.splitlines() or [""]
    what = next((ln for ln in lines if ln.lstrip().startswith(_VALIDATION_MESSAGES)), lines[0])
    what = what.strip().split(", but found invalid values")[0]
    return f"the loss raised {type(err).__name__}{where} ({what})"


def non_finite_term(floats: Mapping[str, float]) -> str | None:
    """``"<term> = <value>"`` of the first non-finite term (else of the loss), or None."""
    if math.isfinite(floats["loss"]):
        return None
    bad = next((k for k, v in floats.items() if k != "loss" and not math.isfinite(v)), "loss")
    return f"{bad} = {floats[bad]}"


def non_finite_gradient(model: nn.Module, norm: torch.Tensor) -> str | None:
    """``"gradient of <name> = <norm>"`` when the total gradient norm is not finite, or None."""
    if bool(torch.isfinite(norm)):
        return None
    for name, p in model.named_parameters():
        if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
            return f"gradient of {name} = {float(norm)}"
    return f"gradient = {float(norm)}"


def all_finite(tensors: Sequence[torch.Tensor]) -> bool:
    """Whether every element of ``tensors`` is finite, read with one synchronisation per dtype.

    One fused L1 norm per tensor (NaN and inf propagate into it); only when a norm is not finite
    are the elements themselves looked at, since the norm of large finite values may overflow.
    """
    if not tensors:
        return True
    with torch.no_grad():
        norms = torch._foreach_norm(list(tensors), 1)
        groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        for n in norms:
            groups.setdefault((n.device, n.dtype), []).append(n)
        if all(bool(torch.isfinite(torch.stack(g)).all()) for g in groups.values()):
            return True
        return all(bool(torch.isfinite(t).all()) for t in tensors)


def non_finite_parameter(
    model: nn.Module, params: list[nn.Parameter], when: str = "after the update"
) -> str | None:
    """``"parameter <name> = <value> <when>"`` for a non-finite parameter, or None."""
    if not params or all_finite(params):
        return None
    for name, p in model.named_parameters():
        finite = torch.isfinite(p.detach())
        if not bool(finite.all()):
            return f"parameter {name} = {float(p.detach()[~finite][0])} {when}"
    return f"a parameter is not finite {when}"


__all__ = [
    "OPTIMIZERS",
    "Snapshot",
    "all_finite",
    "build_optimizer",
    "check_optimizer",
    "describe_validation_error",
    "is_validation_error",
    "loss_floats",
    "non_finite_gradient",
    "non_finite_parameter",
    "trainable_parameters",
]

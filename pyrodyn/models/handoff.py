"""Hand a guide's encoding to the model of the same evaluation, so encoders run once.

Pyro's ELBOs, ``Predictive`` and importance sampling run the guide and then the model on the
*same* argument objects. A model whose prior or regulariser reads the unimodal posteriors
(MMVM's mixture, LaDID's embedding term) would otherwise run its encoders a second time: the
guide :meth:`Handoff.put` s what it encoded, the model :meth:`Handoff.take` s it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def parameter_stamp(modules: Iterable[nn.Module], training: bool) -> tuple[Any, ...]:
    """What an encoding depends on besides its inputs: grad mode, train mode, weight versions.

    In-place parameter updates (optimiser steps, ``load_state_dict``) bump the versions, so a
    stamp taken before an update never matches one taken after it.
    """
    versions = tuple(p._version for mod in modules for p in mod.parameters())
    return (torch.is_grad_enabled(), bool(training), versions)


class Handoff:
    """One stored value, taken at most once, for the identical key objects and stamp.

    The entry is dropped on :meth:`take` whether it matches or not, so no autograd graph
    outlives one evaluation through it. Copies and pickles of a model start empty.
    """

    def __init__(self) -> None:
        self._entry: tuple[tuple[Any, ...], tuple[Any, ...], Any] | None = None

    def put(self, key: tuple[Any, ...], stamp: tuple[Any, ...], value: Any) -> None:
        """Stores ``value`` for the objects in ``key`` (replacing any earlier entry)."""
        self._entry = (key, stamp, value)

    def take(self, key: tuple[Any, ...], stamp: tuple[Any, ...]) -> Any:
        """The stored value if it was put for these very objects and this stamp (else None)."""
        entry, self._entry = self._entry, None
        if entry is None:
            return None
        k, s, value = entry
        if len(k) != len(key) or any(a is not b for a, b in zip(k, key)) or s != stamp:
            return None
        return value

    def clear(self) -> None:
        """Drops the stored entry."""
        self._entry = None

    def __deepcopy__(self, memo: dict) -> Handoff:
        return Handoff()

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._entry = None


__all__ = ["Handoff", "parameter_stamp"]

"""Module-local parameters for a composed model, without changing Pyro's global settings.

Pyro's ``module_local_params`` setting keeps a ``PyroModule``'s parameters in the module instead
of the global param store. pyrodyn never sets it globally (a Pyro user's ``SVI`` with a
``pyro.optim`` optimizer needs the global store); its own entry points switch it on for their
duration with :func:`local_params`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyro
from pyro.nn import PyroModule
from torch import nn


def ensure_local_state(module: nn.Module) -> None:
    """Gives every ``PyroModule`` context under ``module`` a local param state.

    Pyro creates that state only for modules built while the setting is on; a model built under
    the default settings needs it before it runs in module-local mode.
    """
    for sub in module.modules():
        if isinstance(sub, PyroModule):
            ctx = sub._pyro_context
            if not hasattr(ctx, "param_state"):
                ctx.param_state = {"params": {}, "constraints": {}}


@contextmanager
def local_params(module: nn.Module | None = None) -> Iterator[None]:
    """Runs the body with ``pyro.settings`` ``module_local_params=True`` (restored after)."""
    if module is not None:
        ensure_local_state(module)
    with pyro.settings.context(module_local_params=True):
        yield


__all__ = ["ensure_local_state", "local_params"]

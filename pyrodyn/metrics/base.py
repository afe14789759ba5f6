"""The metric registry: every evaluation metric is a plain function declared with what it needs.

A registered metric is called with keyword arguments named after its ``needs`` plus any options::

    spec = get_metric("d_stsp")
    value = spec.fn(x_true=x, x_gen=y, n_bins=10)

The ``needs`` vocabulary (what an evaluator must supply):

* ``"x_true"``, ``"x_gen"``: two trajectories, numpy ``(T, N)``;
* ``"forecasts"``: n-step forecasts ``(T, H, N)`` aligned with ``x_true``: ``forecasts[t, k]``
  predicts ``x_true[t + k + 1]``;
* ``"step"``, ``"jacobian"``: callables of a state (a discrete-time map and its Jacobian);
* ``"latent_true"``, ``"latent_pred"``: latent arrays ``(T, D)`` or ``(B * T, D)``;
* ``"model"``, ``"data"``: a fitted model and a dataset.

A metric also declares the model capabilities it calls (``requires``, classes of
:mod:`pyrodyn.models.capabilities`) and whether an evaluator scores it per modality and averages
(``per_modality``), so evaluators iterate this table instead of special-casing names.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NEEDS_VOCABULARY: tuple[str, ...] = (
    "x_true",
    "x_gen",
    "forecasts",
    "step",
    "jacobian",
    "latent_true",
    "latent_pred",
    "model",
    "data",
)


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    Attributes:
        name: the key used in ``metrics.json`` and on the command line.
        fn: the metric function, called with keyword arguments named after ``needs``.
        needs: the inputs the metric consumes (see the module docstring for the vocabulary).
        description: one line for listings.
        requires: capability classes the model must declare (``isinstance`` checks).
        per_modality: trajectory metrics only: scored on each modality separately and averaged
            (else on the modalities concatenated).
    """

    name: str
    fn: Callable
    needs: tuple[str, ...]
    description: str
    requires: tuple[type, ...] = ()
    per_modality: bool = False

    def missing_capabilities(self, model: Any) -> list[str]:
        """Names of the capabilities in :attr:`requires` that ``model`` does not declare."""
        return [c.__name__ for c in self.requires if not isinstance(model, c)]


METRICS: dict[str, MetricSpec] = {}


def register_metric(
    name: str,
    *,
    needs: tuple[str, ...],
    description: str,
    requires: tuple[type, ...] = (),
    per_modality: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator registering ``fn`` under ``name``; returns ``fn`` unchanged.

    Args:
        name: registry key (unique).
        needs: inputs the metric consumes, from :data:`NEEDS_VOCABULARY`.
        description: one-line description.
        requires: capability classes the model must declare.
        per_modality: score each modality separately and average (trajectory metrics).

    Raises:
        ValueError: on a duplicate name or an unknown entry in ``needs``.
    """
    needs = tuple(needs)
    unknown = [n for n in needs if n not in NEEDS_VOCABULARY]
    if unknown:
        raise ValueError(
            f"register_metric({name!r}): unknown needs {unknown}; expected entries of "
            f"{list(NEEDS_VOCABULARY)}"
        )

    def decorator(fn: Callable) -> Callable:
        existing = METRICS.get(name)
        if existing is not None and existing.fn is not fn:
            qual = getattr(existing.fn, "__qualname__", existing.fn)
            raise ValueError(f"metric {name!r} is already registered (by {qual})")
        METRICS[name] = MetricSpec(
            name=name,
            fn=fn,
            needs=needs,
            description=description,
            requires=tuple(requires),
            per_modality=bool(per_modality),
        )
        return fn

    return decorator


def load_metric_modules() -> None:
    """Import every public module of :mod:`pyrodyn.metrics`, so their metrics are registered.

    Metrics register themselves when their module is imported; modules with heavy dependencies
    (models, torch) are not imported by ``pyrodyn.metrics`` itself, so the lookups below load them
    on demand.
    """
    package = importlib.import_module("pyrodyn.metrics")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"pyrodyn.metrics.{info.name}")


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` registered under ``name``.

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    if name not in METRICS:
        load_metric_modules()
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(
            f"unknown metric {name!r}; registered metrics are {list_metrics()}"
        ) from None


def list_metrics() -> list[str]:
    """Sorted names of all registered metrics (every metric module is imported first)."""
    load_metric_modules()
    return sorted(METRICS)

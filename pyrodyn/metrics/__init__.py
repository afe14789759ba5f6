"""Evaluation metrics of dynamical-systems reconstruction, each registered with what it needs.

``get_metric(name)`` returns a :class:`MetricSpec`; ``list_metrics()`` lists the registered names
(the keys of ``metrics.json``).
"""

from pyrodyn.metrics.base import (
    METRICS,
    NEEDS_VOCABULARY,
    MetricSpec,
    get_metric,
    list_metrics,
    register_metric,
)
from pyrodyn.metrics.power_spectrum import d_h, d_h_mtf, power_spectrum
from pyrodyn.metrics.prediction import prediction_error
from pyrodyn.metrics.state_space import bin_bounds, d_stsp, out_of_range_fraction

__all__ = [
    "METRICS",
    "NEEDS_VOCABULARY",
    "MetricSpec",
    "bin_bounds",
    "d_h",
    "d_h_mtf",
    "d_stsp",
    "get_metric",
    "list_metrics",
    "out_of_range_fraction",
    "power_spectrum",
    "prediction_error",
    "register_metric",
]

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
    load_metric_modules,
    register_metric,
)
from pyrodyn.metrics.fidelity import (
    autocorrelation,
    autocorrelation_error,
    autocorrelation_error_pearson,
    count_prediction_error,
    ordinal_prediction_error,
    rate_error,
    spearman_cross_correlation_error,
    zero_fraction_error,
)
from pyrodyn.metrics.latent import latent_d_stsp, latent_r2, procrustes_align
from pyrodyn.metrics.latent_affine import affine_latent_d_stsp
from pyrodyn.metrics.lyapunov import lyapunov_spectrum, max_lyapunov
from pyrodyn.metrics.power_spectrum import d_h, d_h_mtf, power_spectrum
from pyrodyn.metrics.prediction import prediction_error
from pyrodyn.metrics.state_space import bin_bounds, d_stsp, out_of_range_fraction

__all__ = [
    "METRICS",
    "NEEDS_VOCABULARY",
    "MetricSpec",
    "affine_latent_d_stsp",
    "autocorrelation",
    "autocorrelation_error",
    "autocorrelation_error_pearson",
    "bin_bounds",
    "count_prediction_error",
    "d_h",
    "d_h_mtf",
    "d_stsp",
    "get_metric",
    "latent_d_stsp",
    "latent_r2",
    "list_metrics",
    "load_metric_modules",
    "lyapunov_spectrum",
    "max_lyapunov",
    "ordinal_prediction_error",
    "out_of_range_fraction",
    "power_spectrum",
    "prediction_error",
    "procrustes_align",
    "rate_error",
    "register_metric",
    "spearman_cross_correlation_error",
    "zero_fraction_error",
]

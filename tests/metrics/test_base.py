import pytest

from pyrodyn import metrics
from pyrodyn.metrics.base import METRICS, MetricSpec, get_metric, list_metrics, register_metric


def test_core_metrics_registered():
    for name in ["d_stsp", "d_h", "pe"]:
        spec = get_metric(name)
        assert isinstance(spec, MetricSpec)
        assert spec.name == name
        assert callable(spec.fn)
    assert get_metric("d_stsp").needs == ("x_true", "x_gen")
    assert get_metric("pe").needs == ("x_true", "forecasts")
    assert list_metrics() == sorted(METRICS)
    assert metrics.get_metric is get_metric


def test_unknown_metric_lists_registered():
    with pytest.raises(ValueError, match=r"unknown metric 'nope'.*d_stsp"):
        get_metric("nope")


def test_register_rejects_unknown_needs_and_duplicates():
    with pytest.raises(ValueError, match="unknown needs"):
        register_metric("bad_needs", needs=("trajectory",), description="x")
    with pytest.raises(ValueError, match="already registered"):
        register_metric("d_stsp", needs=("x_true", "x_gen"), description="x")(
            lambda x_true, x_gen: 0
        )


def test_register_and_call_by_needs():
    @register_metric("_test_mean_diff", needs=("x_true", "x_gen"), description="test only")
    def mean_diff(x_true, x_gen):
        return float(abs(x_true.mean() - x_gen.mean()))

    try:
        spec = get_metric("_test_mean_diff")
        assert spec.fn is mean_diff
        import numpy as np

        assert spec.fn(x_true=np.zeros(3), x_gen=np.ones(3)) == 1.0
    finally:
        METRICS.pop("_test_mean_diff")

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


def test_missing_capabilities_names_only_the_undeclared_ones():
    class Flies:
        pass

    class Swims:
        pass

    class Duck(Flies):
        pass

    spec = MetricSpec(name="_t", fn=lambda: 0, needs=(), description="x", requires=(Flies, Swims))
    assert spec.missing_capabilities(Duck()) == ["Swims"]
    assert spec.missing_capabilities(object()) == ["Flies", "Swims"]


def test_register_stores_every_field_with_documented_defaults():
    class Cap:
        pass

    def plain(x_true):
        return 0.0

    def per_mod(x_true, x_gen):
        return 0.0

    try:
        register_metric("_test_plain", needs=["x_true"], description="plain one")(plain)
        register_metric(
            "_test_per_mod",
            needs=("x_true", "x_gen"),
            description="per modality",
            requires=[Cap],
            per_modality=1,
        )(per_mod)
        spec = METRICS["_test_plain"]
        assert spec == MetricSpec(
            name="_test_plain", fn=plain, needs=("x_true",), description="plain one"
        )
        assert spec.requires == () and spec.per_modality is False
        spec = METRICS["_test_per_mod"]
        assert spec.name == "_test_per_mod"
        assert spec.needs == ("x_true", "x_gen")
        assert spec.description == "per modality"
        # lists are normalised to tuples and truthy flags to bool, so specs stay hashable
        assert spec.requires == (Cap,) and isinstance(spec.requires, tuple)
        assert spec.per_modality is True
        hash(spec)
    finally:
        METRICS.pop("_test_plain", None)
        METRICS.pop("_test_per_mod", None)


def test_duplicate_registration_names_the_existing_function():
    import functools

    def base_fn(x_true, scale):
        return 0.0

    first = functools.partial(base_fn, scale=2.0)  # a callable without __qualname__
    try:
        register_metric("_test_dup", needs=("x_true",), description="x")(first)
        # re-registering the same function is allowed (module reloads)
        assert register_metric("_test_dup", needs=("x_true",), description="x")(first) is first
        with pytest.raises(ValueError, match=r"already registered \(by functools\.partial\("):
            register_metric("_test_dup", needs=("x_true",), description="x")(lambda x_true: 1)
        METRICS.pop("_test_dup")
        register_metric("_test_dup", needs=("x_true",), description="x")(base_fn)
        with pytest.raises(ValueError, match=r"already registered \(by test_duplicate_regis"):
            register_metric("_test_dup", needs=("x_true",), description="x")(lambda x_true: 1)
    finally:
        METRICS.pop("_test_dup", None)


def test_lookups_import_every_public_metric_module_on_demand(monkeypatch):
    import importlib
    import os

    from pyrodyn.metrics import base

    package_dir = os.path.dirname(base.__file__)
    public = {
        f"pyrodyn.metrics.{f[:-3]}"
        for f in os.listdir(package_dir)
        if f.endswith(".py") and not f.startswith("_")
    }
    imported = []
    real_import = importlib.import_module

    def recording_import(name, *args):
        imported.append(name)
        return real_import(name, *args)

    monkeypatch.setattr(base.importlib, "import_module", recording_import)
    get_metric("d_stsp")  # registered: no imports needed
    assert imported == []
    with pytest.raises(ValueError, match="unknown metric"):
        get_metric("nope")
    # the package and each public module (private helpers like _arrays are skipped)
    assert set(imported) == public | {"pyrodyn.metrics"}

from __future__ import annotations

import sys
import types

import gpytorch
import pytest

from pyrodyn.app import factory
from pyrodyn.dynamics.base import DynamicsModel, LinearDynamics
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.svae import SVAE


def test_registry_discovers_components():
    names = factory.available()
    assert {"Gaussian", "Poisson", "Ordinal"} <= set(names["Likelihood"])
    assert "LinearDynamics" in names["DynamicsModel"]
    assert "SVAE" in names["GenerativeModel"]
    assert "TemporalConvEncoder" in names["Encoder"]
    assert {"LinearDecoder", "MLPDecoder"} <= set(names["Decoder"])
    assert {"Mean", "ProductOfExperts"} <= set(names["Fusion"])
    assert {"DynamicalPrior", "StandardNormalPrior"} <= set(names["LatentPrior"])
    # base classes themselves are not buildable components
    assert "Likelihood" not in names["Likelihood"]


def test_resolve_is_case_insensitive():
    assert factory.resolve("gaussian") is Gaussian
    assert factory.resolve("SVAE", "GenerativeModel") is SVAE
    assert factory.resolve("LINEARDYNAMICS") is LinearDynamics


def test_build_nested_specs():
    model = factory.build(
        {
            "type": "SVAE",
            "latent_dim": 3,
            "dynamics": {"type": "LinearDynamics", "latent_dim": 3, "init_scale": 0.5},
        },
        likelihoods={"x": factory.build({"type": "Gaussian", "feature_shape": 2})},
    )
    assert isinstance(model, SVAE)
    assert model.dynamics.A[0, 0].item() == pytest.approx(0.5)


def test_build_lists_and_plain_mappings():
    out = factory._build_value(
        {"a": [{"type": "Gaussian", "feature_shape": 1}, 3], "b": {"c": 1}}, "x"
    )
    assert isinstance(out["a"][0], Gaussian) and out["a"][1] == 3 and out["b"] == {"c": 1}


def test_gpytorch_kernels_by_bare_name_and_path():
    k = factory.build({"type": "ScaleKernel", "base_kernel": {"type": "MaternKernel", "nu": 1.5}})
    assert isinstance(k, gpytorch.kernels.ScaleKernel)
    assert isinstance(k.base_kernel, gpytorch.kernels.MaternKernel)
    assert factory.resolve("gpytorch.kernels:PeriodicKernel") is gpytorch.kernels.PeriodicKernel
    assert factory.resolve("rbfkernel") is gpytorch.kernels.RBFKernel


def test_user_class_by_module_path(monkeypatch):
    mod = types.ModuleType("my_user_pkg")

    class Doubling(DynamicsModel):
        def step(self, z, u=None):
            return 2 * z

    mod.Doubling = Doubling
    monkeypatch.setitem(sys.modules, "my_user_pkg", mod)
    obj = factory.build({"type": "my_user_pkg:Doubling", "latent_dim": 2})
    assert isinstance(obj, Doubling) and obj.latent_dim == 2


def test_unknown_name_lists_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown Likelihood type 'Gausian' \(did you mean "
        r"Gaussian\?\).*Valid names: Likelihood: .*Ordinal.*Poisson",
    ):
        factory.build({"type": "Gausian"}, category="Likelihood")
    with pytest.raises(ValueError, match=r"DynamicsModel: .*LinearDynamics"):
        factory.resolve("NoSuchThing")


def test_unknown_and_missing_kwargs_list_parameters():
    with pytest.raises(
        ValueError,
        match=r"Gaussian got unknown parameter\(s\) \['feature_shap'\]"
        r"; it accepts \['feature_shape', 'scale'",
    ):
        factory.build({"type": "Gaussian", "feature_shap": 3})
    with pytest.raises(ValueError, match=r"Ordinal needs parameter\(s\) \['num_categories'\]"):
        factory.build({"type": "Ordinal", "num_channels": 3})


def test_constructor_errors_name_the_spec_path():
    with pytest.raises(
        ValueError,
        match=r"model.dynamics: building LinearDynamics failed: "
        r"latent_dim must be >= 1",
    ):
        factory.build(
            {
                "type": "SVAE",
                "latent_dim": 2,
                "dynamics": {"type": "LinearDynamics", "latent_dim": 0},
            },
            _where="model",
            likelihoods={"x": Gaussian(1)},
        )


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("nomodule_xyz:Thing", "cannot import module 'nomodule_xyz'"),
        ("pyrodyn.likelihoods:Nothing", "has no 'Nothing'; it defines"),
        ("bad:", "must look like 'module.path:ClassName'"),
    ],
)
def test_bad_import_paths(name, match):
    with pytest.raises(ValueError, match=match):
        factory.resolve(name)


def test_bad_spec_and_category():
    with pytest.raises(ValueError, match="must be a mapping with a 'type' key"):
        factory.build({"latent_dim": 3})
    with pytest.raises(ValueError, match="unknown component category 'Widget'"):
        factory.resolve("Gaussian", "Widget")
    assert issubclass(factory.base_class("Likelihood"), Likelihood)


def test_objectives_are_a_category():
    from pyrodyn.objectives import MeanFieldELBO, TermsELBO, TraceELBO

    names = factory.available("Objective")["Objective"]
    assert {"TraceELBO", "MeanFieldELBO"} <= set(names)
    assert factory.base_class("Objective") is TermsELBO
    assert factory.resolve("traceelbo", "Objective") is TraceELBO
    assert isinstance(factory.build({"type": "MeanFieldELBO"}, category="Objective"), MeanFieldELBO)

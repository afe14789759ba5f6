"""Test configuration: seeds, clean Pyro state, validation on, ``--device``, markers."""

from __future__ import annotations

import os

import pyro
import pytest
import torch
from hypothesis import HealthCheck, settings

import pyrodyn  # noqa: F401

# Property-based tests are derandomised by default (CI and `make test` see the same examples
# every run, bounded in time); HYPOTHESIS_PROFILE=explore searches new examples locally.
settings.register_profile(
    "default",
    derandomize=True,
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device", action="store", default="cpu", help="torch device for tests (cpu or cuda)"
    )


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("--device cuda requested but CUDA is not available")
    return torch.device(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clean_state():
    """Seed every test, clear Pyro's param store and turn validation on.

    Tests run under Pyro's default settings (what a Pyro user has); pyrodyn changes none.
    """
    torch.set_num_threads(1)
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    pyro.enable_validation(True)
    settings = pyro.settings.get()
    yield
    pyro.clear_param_store()
    assert pyro.settings.get() == settings, "a test left Pyro's global settings changed"

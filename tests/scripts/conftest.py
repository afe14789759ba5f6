"""Shared by the tests of scripts/: load a script as a module (scripts/ is not a package)."""

import importlib.util
import pathlib
from collections.abc import Callable
from types import ModuleType

import pytest

SCRIPTS = pathlib.Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """``load_script("bench_peers")`` -> the module of ``scripts/bench_peers.py``."""
    return _load

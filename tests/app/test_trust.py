"""A run directory from someone else runs no code: only trusted modules, only component classes."""

from __future__ import annotations

import pickle
import re
import shutil
import sys

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st

import pyrodyn
from pyrodyn.app import factory
from pyrodyn.app.cli import main
from pyrodyn.app.fitrun import fit_run
from pyrodyn.exceptions import PyrodynError, UntrustedCodeError

EVIL = "pyrodyn_trust_probe_mod"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    rng = np.random.default_rng(0)
    np.savez(root / "d.npz", g=rng.normal(size=(10, 20, 2)))
    cfg = {
        "data": {
            "path": str(root / "d.npz"),
            "modalities": {"g": {"likelihood": {"type": "Gaussian"}}},
            "window": 10,
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {"steps": 2, "batch_size": 2, "progress": False},
    }
    fit_run(cfg, root / "run")
    return root


@pytest.fixture
def run_copy(fitted, tmp_path):
    """A copy of the fitted run whose config the test may edit (and the marker file path)."""
    run = tmp_path / "run"
    shutil.copytree(fitted / "run", run)
    return run, tmp_path / "marker"


def _edit(run, fn) -> None:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    fn(cfg)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """A module on sys.path that writes a marker when imported, with a real SVAE subclass."""
    marker = tmp_path / "imported"
    (tmp_path / f"{EVIL}.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from pyrodyn.models import SVAE\n"
        "class Shared(SVAE):\n    pass\n"
        "def not_a_class(**kwargs):\n    return 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(EVIL, None)
    yield marker
    sys.modules.pop(EVIL, None)


def test_a_config_naming_a_function_is_refused_and_nothing_runs(run_copy):
    run, marker = run_copy
    _edit(run, lambda c: c["model"].update(type="os:system", command=f"touch {marker}"))
    with pytest.raises(UntrustedCodeError, match=r"module 'os', which is not trusted.*--trust os"):
        pyrodyn.load_run(run)
    # even a trusted module may only give classes of the component kind
    with pytest.raises(UntrustedCodeError, match=r"'os:system' is a builtin_function_or_method"):
        pyrodyn.load_run(run, trusted_modules=["os"])
    assert not marker.exists()


def test_an_untrusted_module_is_not_even_imported(run_copy, evil_module):
    run, _ = run_copy
    _edit(run, lambda c: c["model"].update(type=f"{EVIL}:Shared"))
    with pytest.raises(UntrustedCodeError, match=f"pass --trust {EVIL}.*trusted_modules"):
        pyrodyn.load_run(run)
    assert EVIL not in sys.modules and not evil_module.exists()
    loaded = pyrodyn.load_run(run, trusted_modules=[EVIL])  # the user vouches for it
    assert type(loaded.model).__name__ == "Shared" and evil_module.exists()


def test_a_trusted_module_still_only_gives_component_classes(run_copy, evil_module):
    run, _ = run_copy
    _edit(run, lambda c: c["model"].update(type=f"{EVIL}:not_a_class"))
    with pytest.raises(UntrustedCodeError, match="is a function, not a class"):
        pyrodyn.load_run(run, trusted_modules=[EVIL])


@pytest.mark.parametrize(
    ("where", "spec", "message"),
    [
        ("model", {"type": "torch.nn:Linear", "in_features": 1, "out_features": 1},
         r"'torch.nn:Linear' is a class; a GenerativeModel type must be a subclass of "
         r"pyrodyn.models.base.GenerativeModel"),
        ("likelihood", {"type": "builtins:dict"}, r"module 'builtins', which is not trusted"),
        ("likelihood", {"type": "pyrodyn_evil:Gaussian"}, r"module 'pyrodyn_evil', which is not"),
        ("likelihood", {"type": "pyrodyn.models.svae:SVAE"},
         r"a Likelihood type must be a subclass of pyrodyn.likelihoods.base.Likelihood"),
    ],
)  # fmt: skip
def test_every_type_is_checked_against_its_kind(run_copy, where, spec, message):
    run, _ = run_copy

    def put(c):
        if where == "model":
            c["model"] = spec
        else:
            c["data"]["modalities"]["g"]["likelihood"] = spec

    _edit(run, put)
    with pytest.raises(UntrustedCodeError, match=message):
        pyrodyn.load_run(run)


def test_nested_specs_must_be_components(run_copy):
    run, _ = run_copy
    _edit(run, lambda c: c["model"].update(encoder={"type": "torch.nn:Identity"}))
    with pytest.raises(
        UntrustedCodeError, match="must be a subclass of one of the component bases"
    ):
        pyrodyn.load_run(run)


def test_a_pickled_object_in_the_checkpoint_is_refused(run_copy):
    run, marker = run_copy

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["extra"] = Payload()
    with open(run / "checkpoint.pt", "wb") as f:
        torch.save(ckpt, f)
    marker.unlink(missing_ok=True)  # torch.save ran the payload here; loading must not
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        pyrodyn.load_run(run)
    assert not marker.exists()


def test_the_restriction_ends_with_the_call(run_copy, evil_module):
    run, _ = run_copy
    pyrodyn.load_run(run)
    # a user's own config (what fit builds) may still name any module
    assert factory.resolve(f"{EVIL}:Shared", "GenerativeModel").__name__ == "Shared"
    assert factory._module_trusted("my_lab.priors")
    with factory.restricted_imports(["my_lab"]):
        assert factory._module_trusted("my_lab.priors") and not factory._module_trusted("my_lab2")
        with factory.restricted_imports(["other"]):  # nested blocks add trust
            assert factory._module_trusted("other.x") and factory._module_trusted("my_lab")
        assert not factory._module_trusted("other")
    assert factory._module_trusted("anything")


def test_cli_refuses_untrusted_runs_and_takes_trust(run_copy, evil_module, capsys):
    run, _ = run_copy
    _edit(run, lambda c: c["model"].update(type=f"{EVIL}:Shared"))
    out = run.parent / "gen.npz"
    assert main(["generate", str(run), "--steps", "5", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: UntrustedCodeError: type '{EVIL}:Shared'" in err and f"--trust {EVIL}" in err
    assert not out.exists() and not evil_module.exists()
    assert main(["generate", str(run), "--steps", "5", "--out", str(out), "--trust", EVIL]) == 0
    assert out.exists()
    assert main(["encode", str(run), "--data", str(run.parent / "x.npz"), "--trust", "a b"]) == 1
    assert "a trusted module must be a dotted module name, got 'a b'" in capsys.readouterr().err


def test_untrusted_code_error_is_a_pyrodyn_error_and_a_value_error():
    assert issubclass(UntrustedCodeError, PyrodynError) and issubclass(
        UntrustedCodeError, ValueError
    )


@given(st.text(max_size=20))
def test_trusted_module_names_are_dotted_identifiers(name):
    valid = bool(name) and all(p.isidentifier() for p in name.split("."))
    if valid:
        with factory.restricted_imports([name]):
            assert factory._module_trusted(name) and factory._module_trusted(name + ".sub")
    else:
        with pytest.raises(ValueError, match="a trusted module must be a dotted module name"):
            with factory.restricted_imports([name]):
                pass


def test_checkpoints_are_refused_with_a_torch_whose_safe_loader_has_a_bypass(run_copy):
    from pyrodyn.io import check_safe_loader

    check_safe_loader()  # the installed torch
    check_safe_loader("2.6.0+cpu")
    for old in ("2.5.1", "2.4.0+cu121", "1.13.1", "nonsense"):
        with pytest.raises(PyrodynError, match=rf"torch {re.escape(old)} can run code.*CVE-2025"):
            check_safe_loader(old)

"""scripts/run_tutorials.py: runs notebooks in place, leaves failed ones alone, one-line errors."""

import importlib.util
import json
import pathlib
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "run_tutorials.py"


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("run_tutorials", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clean_env(monkeypatch):
    # main() sets these for the kernels it starts; monkeypatch restores them afterwards
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    monkeypatch.delenv("PYRODYN_SMOKE", raising=False)


def _notebook(path, *sources):
    nbformat = pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _stdout(path):
    cells = json.loads(path.read_text())["cells"]
    # nbformat stores multi-line text on disk as a list of lines
    return ["".join(o.get("text", "")) for c in cells for o in c.get("outputs", [])]


def test_missing_nbclient_is_one_line_naming_the_extra(runner, monkeypatch, capsys, clean_env):
    monkeypatch.setitem(sys.modules, "nbclient", None)  # import nbclient -> ImportError
    assert runner.main(["nothing.ipynb"]) == 1
    err = capsys.readouterr().err
    assert err == "run_tutorials: nbclient is missing: pip install 'pyrodyn[tutorials]'\n"


def test_executes_in_place_and_leaves_failures_untouched(runner, tmp_path, capsys, clean_env):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    code = "import os, sys\nprint(os.environ['OMP_NUM_THREADS'], sys.executable, os.getcwd())"
    ok = _notebook(tmp_path / "ok.ipynb", code)
    bad = _notebook(tmp_path / "bad.ipynb", "print('first')", "raise ValueError('broken\\ncell')")
    slow = _notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(30)")
    before = {p: p.read_bytes() for p in (bad, slow)}

    assert runner.main([str(ok), str(bad), str(slow), "--timeout", "2"]) == 1

    # the kernel is this interpreter, on one thread, in the notebook's folder
    assert _stdout(ok) == [f"1 {sys.executable} {tmp_path}\n"]
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path.name} was written despite failing"
    captured = capsys.readouterr()
    assert "ok.ipynb: executed in place" in captured.out
    errors = [line for line in captured.err.splitlines() if line.startswith("FAILED")]
    assert errors[0].startswith("FAILED bad.ipynb: cell 1: ValueError: broken cell (")
    assert errors[1].startswith("FAILED slow.ipynb: a cell ran longer than 2 s (--timeout)")
    assert len(errors) == 2


def test_smoke_mode_writes_nothing_and_warns_about_agg(runner, tmp_path, capsys, clean_env):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = _notebook(
        tmp_path / "agg.ipynb",
        'import matplotlib\nmatplotlib.use("Agg")\nimport os\nprint(os.environ["PYRODYN_SMOKE"])',
    )
    before = nb.read_bytes()
    assert runner.main([str(nb), "--smoke"]) == 0
    assert nb.read_bytes() == before
    captured = capsys.readouterr()
    assert "agg.ipynb: checked in" in captured.out
    assert 'agg.ipynb: it calls matplotlib.use("Agg")' in captured.err


def test_missing_notebook_is_refused(runner, tmp_path, capsys, clean_env):
    pytest.importorskip("nbclient")
    assert runner.main([str(tmp_path / "absent.ipynb")]) == 1
    assert "no such notebook" in capsys.readouterr().err

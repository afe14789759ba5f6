"""The wheel alone is enough: build it, install it in a fresh environment, run a README example.

The fresh environment sees pyrodyn's dependencies through a ``.pth`` line naming this
environment's site-packages (no network), but not this checkout: the example runs in an empty
directory with the installed wheel's ``pyrodyn`` command and shipped configs only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "runs", "out", "__pycache__", "*.egg-info", ".*_cache",
    "tests", "tutorials", "scripts",
)  # fmt: skip


def _run(cmd, cwd, env):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if shutil.which("pip", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("pip is not installed in this environment")
    src = tmp_path_factory.mktemp("src") / "pyrodyn"
    shutil.copytree(ROOT, src, ignore=IGNORE, symlinks=True)
    dist = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(dist)],
        src,
        dict(os.environ),
    )  # fmt: skip
    (path,) = dist.glob("pyrodyn-*.whl")
    return path


def test_the_wheel_ships_configs_license_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert sum(n.startswith("pyrodyn/configs/") and n.endswith(".yaml") for n in names) >= 11
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    meta = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert "License-Expression: MIT" in meta


def test_a_readme_example_runs_with_only_the_installed_wheel(wheel, tmp_path):
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    bin_dir = env_dir / "bin"
    python = bin_dir / "python"
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    # the dependencies (torch, pyro, ...) of this environment, without its editable pyrodyn
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # pip of this environment installs into the fresh one (no index: nothing is downloaded)
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        tmp_path,
        dict(os.environ),
    )  # fmt: skip
    assert (bin_dir / "pyrodyn").exists()  # the console script
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS="1")
    where = _run([str(python), "-c", "import pyrodyn; print(pyrodyn.__file__)"], work, env)
    assert where.startswith(str(site)), where  # the wheel's pyrodyn, not this checkout
    assert "mtf_lorenz63" in _run(["pyrodyn", "configs"], work, env)
    # the README's quick example, shortened in steps
    _run(["pyrodyn", "data", "lorenz63", "--out", "lorenz63.npz", "--steps", "3000"], work, env)
    _run(["pyrodyn", "--threads", "1", "fit", "demo_tiny", "--set", "data.path=lorenz63.npz",
          "--set", "fit.steps=20", "--out", "runs/tiny"], work, env)  # fmt: skip
    out = _run(["pyrodyn", "generate", "runs/tiny", "--steps", "50"], work, env)
    assert "gaussian (1, 50, 3)" in out
    assert sorted(p.name for p in work.iterdir()) == ["lorenz63.npz", "runs"]

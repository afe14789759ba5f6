"""Execute the tutorial notebooks in place, so they are stored with their outputs and figures.

Each notebook runs top to bottom with nbclient on a ``python3`` kernel of the interpreter that
runs this script (``.venv/bin/python scripts/run_tutorials.py`` -> the .venv's Python, whatever
kernels Jupyter has registered elsewhere), with ``OMP_NUM_THREADS=1`` and the notebook's folder as
working directory. A notebook is written back only when every cell succeeded; a failure is one
line naming the notebook, the cell and the error, and the script exits non-zero after trying the
others. The full tutorials take minutes of CPU each; ``--smoke`` runs them in their seconds-long
smoke mode (``PYRODYN_SMOKE=1``) as a check and writes nothing.

Usage::

    .venv/bin/python scripts/run_tutorials.py [NOTEBOOK ...] [--timeout 1200] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALL_HINT = "pip install 'pyrodyn[tutorials]'"
AGG_WARNING = (
    'it calls matplotlib.use("Agg"), so its figures stay out of the stored outputs '
    "(the kernel's inline backend is headless already)"
)
#: a notebook that switches to Agg stores no figures: plt.show() and display(fig) draw nothing
AGG = re.compile(r"matplotlib\.use\(\\?[\"']agg\\?[\"']", re.IGNORECASE)


def _kernel_dir(tmp: str) -> str:
    """A Jupyter data dir whose ``python3`` kernel is this interpreter (first on JUPYTER_PATH)."""
    spec = Path(tmp, "kernels", "python3")
    spec.mkdir(parents=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return tmp


def _has_error(cell: dict) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def run_notebook(path: Path, *, timeout: int, write: bool, sockets: str) -> str | None:
    """Executes one notebook (in place when ``write``); returns None or a one-line error.

    ``sockets`` is a private folder for the kernel's IPC sockets (local sockets rather than TCP:
    nothing listens on the network, and the kernel has nothing to warn about).
    """
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    # the asynchronous manager, as nbclient's own: with a blocking one cell timeouts never fire
    km = AsyncKernelManager(
        kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel")
    )
    client = NotebookClient(
        nb, km=km, timeout=timeout, resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    except CellExecutionError as err:
        # the first cell with an error output is the one that stopped the run
        cell = next((i for i, c in enumerate(nb.cells) if _has_error(c)), "?")
        return f"{path.name}: cell {cell}: {err.ename}: {' '.join(str(err.evalue).split())}"
    except CellTimeoutError:
        return f"{path.name}: a cell ran longer than {timeout} s (--timeout)"
    except DeadKernelError as err:
        return f"{path.name}: the kernel died ({' '.join(str(err).split())})"
    finally:
        if km.has_kernel:  # a client given a kernel manager leaves the kernel to its owner
            run_sync(km.shutdown_kernel)(now=True)
    if write:
        nbformat.write(nb, path)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: tutorials/*.ipynb")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell (1200)")
    parser.add_argument("--smoke", action="store_true", help="PYRODYN_SMOKE=1, write nothing")
    args = parser.parse_args(argv)
    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as err:
        print(f"run_tutorials: {err.name} is missing: {INSTALL_HINT}", file=sys.stderr)
        return 1
    notebooks = args.notebooks or sorted((ROOT / "tutorials").glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"run_tutorials: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 1
    # the kernel inherits this environment: one thread (the tutorials' timings assume it)
    os.environ["OMP_NUM_THREADS"] = "1"
    if args.smoke:
        os.environ["PYRODYN_SMOKE"] = "1"
    else:
        os.environ.pop("PYRODYN_SMOKE", None)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = [
            _kernel_dir(tmp),
            *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep)),
        ]
        os.environ["JUPYTER_PATH"] = os.pathsep.join(paths)
        for path in notebooks:
            start = time.perf_counter()
            if AGG.search(path.read_text(encoding="utf-8")):
                print(f"warning: {path.name}: {AGG_WARNING}", file=sys.stderr)
            error = run_notebook(
                path.resolve(), timeout=args.timeout, write=not args.smoke, sockets=tmp
            )
            took = time.perf_counter() - start
            if error:
                failed += 1
                print(f"FAILED {error} ({took:.0f} s)", file=sys.stderr, flush=True)
            else:
                done = "checked" if args.smoke else "executed in place"
                print(f"{path.name}: {done} in {took:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run directories as output: never write into a user's folder, never leave half a run behind.

``pyrodyn fit --out DIR`` writes only into a new or empty directory (or, with ``--resume``, a run
directory with a checkpoint). A fit that fails before its first checkpoint removes what it
created; one that fails later keeps the run (it can be resumed) and marks it with a ``FAILED``
file that says why.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil

from pyrodyn.infer.checkpoint import CHECKPOINT_FILE

logger = logging.getLogger(__name__)

#: Written into a run directory whose fit failed after its first checkpoint.
FAILED_FILE = "FAILED"


def prepare_out_dir(out_dir: str, *, resume: bool, config_file: str) -> bool:
    """Checks that a fit may write into ``out_dir`` and creates it.

    Args:
        out_dir: the run directory.
        resume: the fit continues the run in ``out_dir``.
        config_file: the name of the run's configuration file.

    Returns:
        Whether the directory was created here (it did not exist).

    Raises:
        ValueError: ``out_dir`` is a file; it holds a run and ``resume`` is False; it is not
            empty and holds no run; or ``resume`` is True and it holds no run to continue.
    """
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"--out {out_dir!r} is a file, not a directory")
    entries = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
    has_run = CHECKPOINT_FILE in entries and config_file in entries
    if resume:
        if not has_run:
            raise ValueError(
                f"cannot resume {out_dir!r}: it holds no run to continue (needs {config_file} and "
                f"{CHECKPOINT_FILE}); drop --resume to start a new run"
            )
        return False
    if CHECKPOINT_FILE in entries:
        raise ValueError(
            f"{out_dir!r} already holds a run ({CHECKPOINT_FILE}); pass --resume to continue it "
            "or choose another --out"
        )
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise ValueError(
            f"--out {out_dir!r} is not empty ({shown}) and holds no pyrodyn run; a fit writes only "
            "into a new or empty directory: choose another --out"
        )
    created = not os.path.exists(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    return created


def checkpoint_stamp(out_dir: str) -> tuple[int, int] | None:
    """``(size, mtime in ns)`` of the run's checkpoint (None: there is none), to see a new one."""
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    if not os.path.exists(path):
        return None
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def clean_up_failed_fit(
    out_dir: str,
    *,
    created: bool,
    resume: bool,
    error: BaseException,
    stamp: tuple[int, int] | None = None,
) -> None:
    """After a fit raised: removes a run that never reached a checkpoint, else marks it failed.

    Args:
        out_dir: the run directory.
        created: the directory did not exist before the fit (it is removed with its content;
            otherwise only its content is, since it was empty).
        resume: the fit was a resume (the run is kept whatever happened).
        error: what the fit raised (its one-line form goes into ``FAILED``).
        stamp: :func:`checkpoint_stamp` before a resume; a resume that failed before writing a
            checkpoint leaves the run as it found it (no mark).
    """
    if resume and stamp is not None and checkpoint_stamp(out_dir) == stamp:
        return
    if not resume and not os.path.exists(os.path.join(out_dir, CHECKPOINT_FILE)):
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        else:
            for name in os.listdir(out_dir):
                path = os.path.join(out_dir, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
        logger.info("the fit failed before its first checkpoint; removed what it wrote")
        return
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    message = " ".join(str(error).split()) or "(no message)"
    with open(os.path.join(out_dir, FAILED_FILE), "w") as f:
        f.write(f"{when} {type(error).__name__}: {message}\n")
        f.write("the checkpoint holds the last saved step; continue with pyrodyn fit --resume\n")


def clear_failed(out_dir: str) -> None:
    """Removes the ``FAILED`` mark after a fit of the run succeeded."""
    path = os.path.join(out_dir, FAILED_FILE)
    if os.path.exists(path):
        os.unlink(path)


__all__ = [
    "FAILED_FILE",
    "checkpoint_stamp",
    "clean_up_failed_fit",
    "clear_failed",
    "prepare_out_dir",
]

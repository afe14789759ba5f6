"""Per-step training history: a list of dicts mirrored to ``history.csv`` and a progress bar."""

from __future__ import annotations

import csv
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

#: Progress lines of a fit off a terminal go to this logger (``pyrodyn fit`` shows them).
progress_logger = logging.getLogger("pyrodyn.fit")

#: File name of the per-step history inside ``checkpoint_dir``.
HISTORY_FILE = "history.csv"
#: Columns that always come first, in this order.
LEADING_COLUMNS = ("step", "time", "lr", "loss")
#: Columns that always come last.
TRAILING_COLUMNS = ("valid_loss",)


def _order(columns: Iterable[str]) -> list[str]:
    cols = list(dict.fromkeys(columns))
    lead = [c for c in LEADING_COLUMNS if c in cols]
    trail = [c for c in TRAILING_COLUMNS if c in cols]
    middle = [c for c in cols if c not in lead and c not in trail]
    return lead + middle + trail


class HistoryWriter:
    """Appends history rows to a CSV file; rewrites it when a new column appears.

    Rows may lack columns (the validation loss is computed every few steps): those cells are
    empty. Opening the writer rewrites the file from ``rows`` (the history a resumed checkpoint
    holds), dropping any rows written after that checkpoint.

    Args:
        path: the CSV file.
        rows: rows already recorded.
    """

    def __init__(self, path: str | os.PathLike, rows: Iterable[Mapping[str, float]] = ()) -> None:
        self.path = os.fspath(path)
        self.rows = [dict(r) for r in rows]
        self.columns = _order(c for r in self.rows for c in r) or list(LEADING_COLUMNS)
        self._file = None
        self._rewrite()

    def _rewrite(self) -> None:
        self.close()
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._file = open(self.path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, restval="")
        self._writer.writeheader()
        for r in self.rows:
            self._writer.writerow(_fmt(r))
        self._file.flush()

    def append(self, row: Mapping[str, float]) -> None:
        """Adds one row (and flushes lazily: call :meth:`flush` at checkpoints)."""
        self.rows.append(dict(row))
        if any(c not in self.columns for c in row):
            self.columns = _order([*self.columns, *row])
            self._rewrite()
        else:
            self._writer.writerow(_fmt(row))

    def flush(self) -> None:
        """Flushes the file to disk."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Closes the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _fmt(row: Mapping[str, float]) -> dict[str, str]:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and math.isfinite(v) and k != "step":
            out[k] = repr(v)
        else:
            out[k] = str(v)
    return out


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def time_left(step: int, total: int, elapsed: float, rate: float, max_time: float | None) -> str:
    """What ends the fit and when: ``"2:10 left (steps)"`` or ``"0:45 left (max_time)"``.

    Args:
        step: steps done.
        total: the step budget.
        elapsed: seconds of training so far (resumed segments included).
        rate: steps per second lately.
        max_time: the time budget in seconds (None: none).
    """
    by_steps = (total - step) / rate if rate > 0 else math.inf
    if max_time is not None and max_time - elapsed < by_steps:
        return f"{_duration(max_time - elapsed)} left (max_time)"
    return f"{_duration(by_steps)} left (steps)" if math.isfinite(by_steps) else "time left unknown"


class StepLog:
    """Where a finished step's history row goes: ``history.csv``, a progress bar or log lines.

    On a terminal a tqdm bar shows the loss terms; elsewhere (a batch job, stderr redirected)
    a line every ``log_every`` seconds goes to the ``pyrodyn.fit`` logger: step, loss terms,
    learning rate, steps/s and the time left against whichever of ``steps`` and ``max_time``
    ends the fit first.

    Args:
        path: the CSV file (None: no file).
        rows: rows already recorded (a resumed run's history; the file is rewritten from them).
        progress: show a tqdm bar on stderr (None: only when stderr is a terminal).
        total: the step budget (the bar's length).
        initial: steps already done.
        max_time: the time budget in seconds (None: none), for the time left.
        log_every: seconds between two progress lines when there is no bar.
    """

    #: Seconds between two refreshes of the bar's loss terms.
    REFRESH = 0.5

    def __init__(
        self,
        path: str | os.PathLike | None,
        rows: Iterable[Mapping[str, float]],
        *,
        progress: bool | None,
        total: int,
        initial: int,
        max_time: float | None = None,
        log_every: float = 30.0,
    ) -> None:
        self.writer = None if path is None else HistoryWriter(path, rows)
        enabled = sys.stderr.isatty() if progress is None else bool(progress)
        self.bar: Any = None
        self.total, self.max_time, self.log_every = int(total), max_time, float(log_every)
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total, initial=initial, desc="fit", dynamic_ncols=True, file=sys.stderr
            )
        self._last_refresh = 0.0
        self._mark: tuple[float, int] | None = None  # (monotonic time, step) of the last line

    def append(self, record: Mapping[str, float], *, final: bool) -> None:
        """Writes a row and advances the bar (its terms refresh at most every 0.5 s)."""
        if self.writer is not None:
            self.writer.append(record)
        now = time.monotonic()
        if self.bar is None:
            self._log_line(record, now, final)
            return
        self.bar.update(1)
        if now - self._last_refresh > self.REFRESH or final:
            self._last_refresh = now
            post = {k: f"{v:.4g}" for k, v in record.items() if k not in ("step", "time")}
            if self.max_time is not None:
                rate = self.bar.format_dict.get("rate") or 0.0
                post["left"] = time_left(
                    int(record["step"]), self.total, record["time"], rate, self.max_time
                )
            self.bar.set_postfix(post, refresh=False)

    def _log_line(self, record: Mapping[str, float], now: float, final: bool) -> None:
        step = int(record["step"])
        if self._mark is None:
            self._mark = (now, step - 1)
        since, at = self._mark
        if now - since < self.log_every and not final:
            return
        rate = (step - at) / max(now - since, 1e-9)
        self._mark = (now, step)
        terms = " ".join(
            f"{k} {v:.4g}"
            for k, v in record.items()
            if k not in ("step", "time") and isinstance(v, (int, float))
        )
        progress_logger.info(
            "step %d/%d %s, %.1f steps/s, %s",
            step,
            self.total,
            terms,
            rate,
            time_left(step, self.total, float(record["time"]), rate, self.max_time),
        )

    def flush(self) -> None:
        """Flushes ``history.csv`` (called before each checkpoint)."""
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """Closes the file and the bar."""
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """Reads ``history.csv`` back into rows of floats (empty cells are left out)."""
    with open(path, newline="") as f:
        rows = []
        for r in csv.DictReader(f):
            rows.append({k: (int(v) if k == "step" else float(v)) for k, v in r.items() if v})
        return rows


__all__ = [
    "HISTORY_FILE",
    "HistoryWriter",
    "StepLog",
    "progress_logger",
    "read_history",
    "time_left",
]

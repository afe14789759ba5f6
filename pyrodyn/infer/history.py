"""Per-step training history: a list of dicts mirrored to ``history.csv``."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping

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


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """Reads ``history.csv`` back into rows of floats (empty cells are left out)."""
    with open(path, newline="") as f:
        rows = []
        for r in csv.DictReader(f):
            rows.append({k: (int(v) if k == "step" else float(v)) for k, v in r.items() if v})
        return rows


__all__ = ["HistoryWriter", "read_history"]

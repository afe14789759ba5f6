"""Experiment loggers: a fit's numbers in TensorBoard (``fit.logger: tensorboard``)."""

from __future__ import annotations

import math
import os
from typing import Any

from pyrodyn.infer.callbacks import Callback, FitState

#: The subfolder of a run directory TensorBoard event files go to.
TENSORBOARD_DIR = "tensorboard"


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # torch ships the writer; the tensorboard package is optional
        raise ImportError(
            "TensorBoard logging needs the tensorboard package; install the optional extra: "
            "pip install 'pyrodyn[tensorboard]'"
        ) from err
    return SummaryWriter


class TensorBoardLogger(Callback):
    """Writes every number of each step's history row to TensorBoard.

    That is the loss, every loss term, the learning rate, every scheduled value
    (``schedule.<name>``), the validation loss when computed, and model-selection scores
    (``select.score``; put this logger after :class:`~pyrodyn.infer.selection.KeepBest`).

    Args:
        log_dir: the folder of the event files (``tensorboard dir --logdir LOG_DIR``).
        flush_every: steps between two flushes to disk.

    Raises:
        ImportError: the ``tensorboard`` package is not installed (the message names the extra).
    """

    def __init__(self, log_dir: str | os.PathLike, flush_every: int = 100) -> None:
        self._writer_class = _summary_writer()
        if int(flush_every) < 1:
            raise ValueError(f"flush_every must be >= 1, got {flush_every}")
        self.log_dir = os.fspath(log_dir)
        self.flush_every = int(flush_every)
        self.writer: Any = None

    def on_fit_start(self, state: FitState) -> None:
        """Opens the event file (a resumed fit appends to the same folder)."""
        self.writer = self._writer_class(log_dir=self.log_dir)

    def on_step_end(self, state: FitState) -> bool | None:
        """Logs the step's row."""
        for key, value in (state.record or {}).items():
            if key == "step" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if math.isfinite(value):
                self.writer.add_scalar(key, float(value), state.step)
        if state.step % self.flush_every == 0:
            self.writer.flush()
        return None

    def on_fit_end(self, state: FitState, reason: str) -> None:
        """Flushes and closes the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


__all__ = ["TENSORBOARD_DIR", "TensorBoardLogger"]

"""A one-line progress indicator on stderr for long-running commands (a large ingest backlog, an
export, reconciling large files, loading models).

Drawn only when stderr is a terminal: piped or redirected, a command prints exactly what it would
without it. The line is redrawn in place (``\\r``) and erased when the work ends, so the output
that follows starts on a clean line. A background thread redraws it twice a second, so work that
reports no steps (one long DuckDB statement) still shows it is alive and for how long.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """``with Progress("ingesting", total=120, unit="files") as p: ... p.advance(10)``."""

    INTERVAL = 0.5
    """Seconds between redraws."""

    def __init__(
        self, label: str, total: int | None = None, *, unit: str = "", stream: TextIO | None = None
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.stream = stream or sys.stderr
        self.shown = _is_terminal(self.stream)
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._width = 0
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.shown:
            self._draw()
            self._thread = threading.Thread(target=self._tick, name="voicegw-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.shown:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

    def advance(self, steps: int = 1, total: int | None = None) -> None:
        """``steps`` more done (``total`` corrects the expected count)."""
        self.done += steps
        if total is not None:
            self.total = total

    def text(self) -> str:
        """The line as drawn now: ``ingesting 40/120 files (33%), 3 s``."""
        count = f" {self.done:,}" if self.done or self.total else ""
        if self.total:
            count += f"/{self.total:,}"
        count += f" {self.unit}" if count and self.unit else ""
        if self.total:
            count += f" ({min(100, 100 * self.done // self.total)}%)"
        return f"{self.label}{count}, {time.monotonic() - self._started:.0f} s"

    def _tick(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self._draw()

    def _draw(self) -> None:
        line = self.text()
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = max(self._width, len(line))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

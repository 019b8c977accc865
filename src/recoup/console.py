"""Where the CLI's rich consoles and progress come from: one factory, so output reads well in a log.

On a terminal nothing changes (rich's width, colours and spinners). When the stream is not a terminal
(cron, Airflow, ``> file``) tables are laid out on a wide line instead of rich's default 80 columns, so a
column is never cut to ``96.…``, and progress is printed as timestamped log lines on stderr, one per
step, instead of a spinner that a log never shows.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console

__all__ = ["LOG_WIDTH", "is_terminal", "log_line", "make_console", "progress_lines"]

#: The width tables are laid out to when output goes to a file or a pipe: wide enough for any table
#: recoup prints, so nothing is truncated; a table still takes only the width it needs.
LOG_WIDTH = 1000


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stdout) is an interactive terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def make_console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A rich Console for CLI output: as rich makes it on a terminal, ``LOG_WIDTH`` wide otherwise."""
    kwargs.setdefault("emoji", False)
    if "width" not in kwargs and not is_terminal(sys.stderr if stderr else sys.stdout):
        kwargs["width"] = LOG_WIDTH
    return Console(stderr=stderr, **kwargs)


def log_line(title: str, message: str, *, stream: TextIO | None = None) -> None:
    """One progress line for a log: ``2026-11-20T06:01:02Z recoup import: reading loans.csv``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = sys.stderr if stream is None else stream
    out.write(f"{stamp} recoup {title}: {message}\n")
    out.flush()


@contextmanager
def progress_lines(title: str) -> Iterator[Callable[[str], None]]:
    """Progress as log lines on stderr (for output that is not a terminal): a start line, one line per
    step reported, and an end line with the elapsed time."""
    start = dt.datetime.now(dt.UTC)
    log_line(title, "started")
    last: list[str] = []

    def report(message: str) -> None:
        if last and last[0] == message:  # a step reported twice is one line
            return
        last[:] = [message]
        log_line(title, message)

    try:
        yield report
    except BaseException:
        log_line(title, f"stopped after {(dt.datetime.now(dt.UTC) - start).total_seconds():.1f}s")
        raise
    log_line(title, f"finished in {(dt.datetime.now(dt.UTC) - start).total_seconds():.1f}s")

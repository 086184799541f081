"""What a client sent a gfrpc brick during one measured step: the brick's FOP counts.

Theory of operation. ``gfrpc brick`` logs one line with how many of each FOP it has served
since it started whenever it gets SIGUSR1 (``brick PATH: FOPs served: LOOKUP=12 CREATE=3``,
made on its main thread, never on a poller). :func:`fop_counts` notes the log's size, sends
the signal and reads what the log gained until that line is complete (a bounded wait: None
after ``timeout``). SIGUSR1 ends a process that has no handler for it, so only bricks the
bench started itself, from this tree, are asked. Two such readings around a step give what
the step sent (:func:`fop_delta`), which the bench keeps
in a row's evidence as ``server_fops``: the requests per file of fio's passes, read off the
brick rather than assumed. glusterfsd keeps such counts only with ``volume profile`` on,
which costs it CPU on every FOP, so its rows have none.

The readings are taken outside the measured span (before its first CPU reading, after its
last), so the brick's few hundred microseconds of logging are not counted as its work.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

__all__ = ["fop_counts", "fop_delta", "parse_fops_served"]

_LINE = re.compile(r"FOPs served: ([^\n]*)")
#: how long to wait for the brick's line after the signal
TIMEOUT_S = 2.0


def parse_fops_served(text: str) -> dict[str, int] | None:
    """The counts of the last ``FOPs served:`` line in ``text`` (None if there is none)."""
    found = _LINE.findall(text)
    if not found:
        return None
    counts: dict[str, int] = {}
    for item in found[-1].split():
        name, _, value = item.partition("=")
        if value.isdigit():
            counts[name] = int(value)
    return counts


def fop_counts(pid: int, log: Path, *, timeout: float = TIMEOUT_S) -> dict[str, int] | None:
    """Ask the brick ``pid`` (logging to ``log``) for its FOP counts; None when it does not
    answer within ``timeout`` or is gone."""
    try:
        start = log.stat().st_size
        os.kill(pid, signal.SIGUSR1)
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    got = b""
    with open(log, "rb") as f:
        f.seek(start)
        while True:
            got += f.read()
            lines = got[: got.rfind(b"\n") + 1]  # complete lines only
            counts = parse_fops_served(lines.decode(errors="replace"))
            if counts is not None:
                return counts
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)


def fop_delta(a: dict[str, int] | None, b: dict[str, int] | None) -> dict[str, int] | None:
    """The FOPs served between readings ``a`` and ``b`` (those that moved), most first."""
    if a is None or b is None:
        return None
    moved = {k: v - a.get(k, 0) for k, v in b.items() if v != a.get(k, 0)}
    return dict(sorted(moved.items(), key=lambda kv: (-kv[1], kv[0])))

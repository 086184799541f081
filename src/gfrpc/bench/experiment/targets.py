"""Issue 9's speed targets, judged from one run's document: met or missed, by how much.

Theory of operation: a target is a rule over some rows of the document (which workload,
phase, client and server), a number taken from each such row, and an aim the number must
reach (at least, or at most). Every gfrpc brick configuration of the run is judged on its
own, TLS off and on apart, so one run says "met by five of seven bricks, missed by these, by
this much" instead of one verdict that a single brick or a single noisy run decides. Only the
document is read (``--from-json`` judges a recorded run the same way), and a target whose rows
the run did not measure is left out, not counted as missed.

The targets (issue 9, "Targets"), with fio gfapi as the client unless said:

* smallfile, every phase fio measures (create; the read pass, open + lstat + read + close):
  files/s at least 0.8x fio -> glusterfsd, and the brick's CPU per file at most 1.5x
  glusterfsd's (the reference row that the ratio uses: same event-threads for ``pool`` and
  ``sharded``, else glusterfsd's most);
* ``stat``: the brick's CPU per STAT at most 80 us, from the ``stat`` workload (gfrpc's
  client: fio has no STAT loop). A run without it (``--compare`` before the stat workload
  joined it) is judged on gfrpc's client's smallfile ``stat`` phase instead, and says so;
* seq-write and seq-read, fio -> gfrpc brick: at least 1.0x fio -> glusterfsd;
* the seed's workload end to end: seq-write with TLS, gfrpc's client -> gfrpc brick, at least
  1.0x fio -> glusterfsd.

"Nothing that is faster today gets slower" compares two runs, so no single run can judge it.

A value is printed with two decimals unless that would round a miss onto the aim (0.997
against 1.0 prints 0.997): the printed verdict and the printed number never disagree.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gfrpc.bench.experiment.report import group_key, is_reference, server_of

Row = dict[str, Any]
MAX_WIDTH = 120


@dataclass(frozen=True)
class Target:
    """One aim: rows of the document (``picks``), a number from each (``value``), a bound."""

    title: str
    aim: float
    at_least: bool  # True: value >= aim; False: value <= aim
    unit: str  # "x" (a ratio) or "µs"
    rows: tuple[str, str | None, str]  # the rows judged: (workload, phase, client)
    value: Callable[[Row, list[Row]], float | None]
    tls_modes: tuple[bool, ...] = (False, True)
    source: str = ""  # said beside the title when the rows are not the obvious ones

    def picks(self, row: Row, server: str = "gfrpc") -> bool:
        """Whether ``row`` is one of this target's (a ``server`` row, not a sweep point)."""
        workload, phase, client = self.rows
        return (
            row["workload"] == workload
            and row["phase"] == phase
            and row["client"] == client
            and row["server"] == server
            and row["connections"] == "per-stream"
            and "connection_count" not in row
        )

    @property
    def aim_text(self) -> str:
        sign = "≥" if self.at_least else "≤"
        if self.unit == "x":
            return f"{sign} {self.aim:.1f}×"
        return f"{sign} {self.aim:g} {self.unit}"

    @property
    def heading(self) -> str:
        """The title, with where its rows came from when that is not the obvious place."""
        return self.title + (f" ({self.source})" if self.source else "")

    def met(self, value: float) -> bool:
        return value >= self.aim if self.at_least else value <= self.aim

    def short_by(self, value: float) -> float:
        return self.aim - value if self.at_least else value - self.aim


@dataclass(frozen=True)
class Judged:
    """One target at one TLS setting: every brick's value, best first."""

    target: Target
    tls: bool
    values: list[tuple[str, float]]  # (brick, value)
    glusterfsd: list[tuple[str, float]]  # the same measure of glusterfsd (µs targets only)

    @property
    def met(self) -> list[tuple[str, float]]:
        return [(b, v) for b, v in self.values if self.target.met(v)]

    @property
    def missed(self) -> list[tuple[str, float]]:
        return [(b, v) for b, v in self.values if not self.target.met(v)]


def server_name(row: Row) -> str:
    """A server as the targets name it: a gfrpc brick by its configuration (``pool x2``,
    ``single io0``), glusterfsd as ``glusterfsd x2``."""
    return server_of(row).removeprefix("gfrpc ")


#: holds a server's name and its number together when the text is wrapped (a space again
#: once it is)
_KEEP = "\xa0"


def _kept(name: str) -> str:
    return name.replace(" ", _KEEP)


def _ratio(row: Row, rows: list[Row]) -> float | None:
    value = row.get("ratio_to_reference")
    return None if value is None else float(value)


def _cpu_ratio(row: Row, rows: list[Row]) -> float | None:
    """The brick's CPU per operation over that of the reference row its ratio used."""
    mine, threads = row.get("server_cpu_us_per_op"), row.get("reference_event_threads")
    if mine is None or threads is None:
        return None
    for ref in rows:
        if (
            is_reference(ref)
            and group_key(ref) == group_key(row)
            and ref["event_threads"] == threads
        ):
            theirs = ref.get("server_cpu_us_per_op")
            return float(mine) / theirs if theirs else None
    return None


def _cpu_us(row: Row, rows: list[Row]) -> float | None:
    value = row.get("server_cpu_us_per_op")
    return None if value is None else float(value)


STAT_AIM = 80.0
STAT = Target(
    "brick CPU per STAT (the stat workload, gfrpc's client)",
    STAT_AIM,
    False,
    "µs",
    ("stat", None, "gfrpc"),
    _cpu_us,
)

TARGETS: tuple[Target, ...] = (
    Target("smallfile create, files/s", 0.8, True, "x", ("smallfile", "create", "fio"), _ratio),
    Target(
        "smallfile read pass (open+lstat+read+close), files/s",
        0.8,
        True,
        "x",
        ("smallfile", "stat", "fio"),
        _ratio,
    ),
    Target(
        "server CPU per created file, ÷ glusterfsd's",
        1.5,
        False,
        "x",
        ("smallfile", "create", "fio"),
        _cpu_ratio,
    ),
    Target(
        "server CPU per file read, ÷ glusterfsd's",
        1.5,
        False,
        "x",
        ("smallfile", "stat", "fio"),
        _cpu_ratio,
    ),
    STAT,
    Target("seq-write, MB/s", 1.0, True, "x", ("seq-write", None, "fio"), _ratio),
    Target("seq-read, MB/s", 1.0, True, "x", ("seq-read", None, "fio"), _ratio),
    Target(
        "the seed's workload end to end: seq-write, gfrpc's client → gfrpc brick",
        1.0,
        True,
        "x",
        ("seq-write", None, "gfrpc"),
        _ratio,
        tls_modes=(True,),
    ),
)

#: the STAT target of a run without the ``stat`` workload: gfrpc's smallfile ``stat`` phase
STAT_FALLBACK = Target(
    "brick CPU per STAT (gfrpc's client's smallfile stat phase)",
    STAT_AIM,
    False,
    "µs",
    ("smallfile", "stat", "gfrpc"),
    _cpu_us,
    source="this run has no stat workload",
)


def judge(doc: dict[str, Any]) -> list[Judged]:
    """Every target the run measured, at each TLS setting it measured, bricks best first."""
    rows: list[Row] = [r for r in doc["results"] if r.get("value") is not None]
    out = []
    for target in TARGETS:
        if target is STAT and not any(target.picks(r) for r in rows):
            target = STAT_FALLBACK
        for tls in target.tls_modes:
            values = _values_of(target, rows, tls, "gfrpc")
            if values:
                values.sort(key=lambda bv: -bv[1] if target.at_least else bv[1])
                theirs = _values_of(target, rows, tls, "glusterfsd") if target.unit != "x" else []
                out.append(Judged(target, tls, values, theirs))
    return out


def _values_of(target: Target, rows: list[Row], tls: bool, server: str) -> list[tuple[str, float]]:
    out = []
    for row in rows:
        if row["tls"] is tls and target.picks(row, server):
            v = target.value(row, rows)
            if v is not None:
                out.append((server_name(row), v))
    return out


def shown(value: float, target: Target) -> str:
    """``value`` as printed: two decimals (whole µs), more where rounding would cross the aim."""
    digits = 0 if target.unit == "µs" else 2
    text = f"{value:.{digits}f}"
    while digits < 4 and target.met(float(text)) != target.met(value):
        digits += 1
        text = f"{value:.{digits}f}"
    return text


def margin(value: float, target: Target) -> str:
    """How far ``value`` misses the aim: two decimals (whole µs), more rather than 0."""
    gap = target.short_by(value)
    digits = 0 if target.unit == "µs" else 2
    text = f"{gap:.{digits}f}"
    while digits < 4 and float(text) == 0:
        digits += 1
        text = f"{gap:.{digits}f}"
    return text


def _values(judged: Judged) -> str:
    text = ", ".join(_kept(f"{b} {shown(v, judged.target)}") for b, v in judged.values)
    if judged.glusterfsd:
        theirs = ", ".join(_kept(f"{b} {shown(v, judged.target)}") for b, v in judged.glusterfsd)
        text += f" (through the same client: {theirs})"
    return text


def _verdict(judged: Judged) -> str:
    """``met by 5 of 7; missed by sharded x2 (0.10), own-thread (0.13)`` (names kept whole)."""
    t, met, missed = judged.target, judged.met, judged.missed
    n = len(judged.values)
    if not missed:
        return f"met by all {n}" if n > 1 else "met"
    head = f"met by {len(met)} of {n}" if met else f"met by none of {n}"
    gaps = ", ".join(_kept(f"{b} ({margin(v, t)})") for b, v in missed)
    return f"{head}; missed by {gaps}"


def _tls(tls: bool) -> str:
    return f"TLS {'on' if tls else 'off'}"


def render_targets(doc: dict[str, Any]) -> str:
    """The closing "issue 9's targets" text of a run ('' when it measured none of them)."""
    judged = judge(doc)
    if not judged:
        return ""
    lines = [
        "issue 9's targets, each gfrpc brick of this run judged on its own",
        "(fio gfapi as the client unless said; how far a brick missed in brackets):",
    ]
    seen: set[Target] = set()
    for j in judged:
        t = j.target
        if t not in seen:
            seen.add(t)
            title = f"{t.heading}: {t.aim_text}"
            lines += textwrap.wrap(title, MAX_WIDTH, initial_indent="  ", subsequent_indent="    ")
        text = f"{_tls(j.tls)}: {_verdict(j)}. Values: {_values(j)}"
        lines += textwrap.wrap(
            text,
            MAX_WIDTH,
            initial_indent="    ",
            subsequent_indent="      ",
            break_on_hyphens=False,
        )
    return "\n".join(lines).replace(_KEEP, " ") + "\n"


def markdown_targets(doc: dict[str, Any]) -> str:
    """The same, as a Markdown table for the README ('' when the run measured none)."""
    judged = judge(doc)
    if not judged:
        return ""
    out = [
        "| target | aim | TLS | verdict | each brick, best first |",
        "|---|---|---|---|---|",
    ]
    for j in judged:
        t = j.target
        out.append(
            f"| {t.heading} | {t.aim_text} | {'on' if j.tls else 'off'} | {_verdict(j)} "
            f"| {_values(j)} |"
        )
    return "\n".join(out).replace(_KEEP, " ") + "\n"

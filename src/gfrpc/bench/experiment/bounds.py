"""What bounds each row: crypto, the client's CPU, the server's CPU, or waiting.

Theory of operation: a row's rate is limited by whatever runs out first. The report has, for
every row, the CPU-seconds and busy cores of each side and the bytes moved; the machine facts
give the core count and one core's AES-128-GCM rate (``aes_gcm_mb_s``). From those alone (so a
recorded JSON renders the same text anywhere), each row gets one verdict, tried in this order:

1. **crypto** -- TLS rows: every byte is encrypted once and decrypted once, so the estimated
   crypto CPU is ``bytes_total * 2 / aes_gcm_mb_s``. When that is at least
   ``CRYPTO_SHARE`` of the row's total CPU (client + server), crypto is the bound.
2. **the client's / the server's CPU** -- when client + server busy cores reach ``NEAR`` of the
   machine's cores (the CPU is used up), the side with the larger share; otherwise when one
   side's busy cores reach ``NEAR`` of the threads it can use, that side. A Python process
   (gfrpc's client, the gfrpc brick) can use about one core (one interpreter, one GIL); fio
   (a process per job) and glusterfsd (event and io threads) can use every core.
3. **waiting** -- neither: both sides are below what they could use, so the rate is set by
   round trips, locks or handoffs, not by CPU.

Where a row has it (``machine_idle_cores``, runs recorded since 2026-12-07), each line ends with
how many of the machine's cores were idle on average over the measured span: what neither
side, nor anything else on the machine, used. Two rows bound by the same side can differ
there, and that difference is often the one that matters (a server whose threads wait for one
another leaves a core idle that a server with threads to spare would use).

Each line gives the numbers that led to its verdict. Sweep rows are not judged here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gfrpc.bench.experiment.model import MB
from gfrpc.bench.experiment.report import group_key, is_reference, row_label

CRYPTO_SHARE = 0.33  # crypto's share of the total CPU that makes it "the" bound
NEAR = 0.8  # busy cores at this fraction of a capacity count as "used up"
CRYPTO, CLIENT, SERVER, WAITING, UNKNOWN = (
    "crypto",
    "the client's CPU",
    "the server's CPU",
    "waiting",
    "unknown",
)


def usable_cores(kind: str, cores: int) -> float:
    """Cores one side can keep busy: 1 for a Python process (gfrpc), all for fio/glusterfsd."""
    return 1.0 if kind == "gfrpc" else float(cores)


def _crypto(row: dict[str, Any], aes_mb_s: float | None) -> tuple[float, float] | None:
    """(estimated crypto CPU-s, total CPU-s) of a TLS row, when all figures are known."""
    if not row["tls"] or not aes_mb_s or not row["bytes_total"]:
        return None
    if row["client_cpu_s"] is None or row["server_cpu_s"] is None:
        return None
    total = row["client_cpu_s"] + row["server_cpu_s"]
    if total <= 0:
        return None
    return row["bytes_total"] * 2 / (aes_mb_s * MB), total


def verdict(row: dict[str, Any], machine: dict[str, Any]) -> tuple[str, str]:
    """(verdict, the numbers behind it) for one result row; the machine's idle cores follow
    the numbers where the row has them (rows recorded before they were measured do not)."""
    v, why = _verdict(row, machine)
    idle = row.get("machine_idle_cores")
    return v, why if idle is None else f"{why}; idle {idle:.2f}"


def _verdict(row: dict[str, Any], machine: dict[str, Any]) -> tuple[str, str]:
    cores = int(machine.get("cores") or 1)
    crypto = _crypto(row, machine.get("aes_gcm_mb_s"))
    if crypto is not None and crypto[0] / crypto[1] >= CRYPTO_SHARE:
        est, total = crypto
        return CRYPTO, (
            f"est. AES-GCM {est:.2f} of {total:.2f} CPU-s ({est / total:.0%}) "
            f"at {machine['aes_gcm_mb_s']:.0f} MB/s/core"
        )
    c, s = row.get("client_busy_cores"), row["server_busy_cores"]
    if c is None and s is None:
        return UNKNOWN, "no CPU figures"
    c_cap, s_cap = usable_cores(row["client"], cores), usable_cores(row["server"], cores)
    if c is not None and s is not None and c + s >= NEAR * cores:
        side = CLIENT if c >= s else SERVER
        return side, (
            f"client {c:.2f} + server {s:.2f} = {c + s:.2f} of {cores} cores busy, "
            f"{'client' if side == CLIENT else 'server'} {max(c, s) / (c + s):.0%}"
        )
    fill = {CLIENT: (c or 0.0) / c_cap, SERVER: (s or 0.0) / s_cap}
    side = max(fill, key=lambda k: fill[k])
    both = (
        f"busy: client {'?' if c is None else f'{c:.2f}'} of {c_cap:g}, "
        f"server {'?' if s is None else f'{s:.2f}'} of {s_cap:g} usable"
    )
    if fill[side] >= NEAR:
        return side, both
    if c is None or s is None:
        return UNKNOWN, both
    return WAITING, f"{both}; {c + s:.2f} of {cores} cores"


def bounds_rows(doc: dict[str, Any]) -> list[tuple[tuple[str, str | None, bool], str, str, str]]:
    """(group, row label, verdict, numbers) for every non-sweep row, in the doc's order."""
    out = []
    for row in doc["results"]:
        if "connection_count" in row or row["value"] is None:
            continue
        v, why = verdict(row, doc["machine"])
        label = row_label(row) + (" (ref)" if is_reference(row) else "")
        out.append((group_key(row), label, v, why))
    return out


def _group_title(key: tuple[str, str | None, bool]) -> str:
    workload, phase, tls = key
    return f"{workload}{' ' + phase if phase else ''}, TLS {'on' if tls else 'off'}"


def render_bounds(doc: dict[str, Any]) -> str:
    """The closing "what bounds each group" text, from the document's own numbers."""
    rows = bounds_rows(doc)
    if not rows:
        return "what bounds each row: no rows to judge (sweep rows are not judged)\n"
    lines = ["what bounds each row (crypto, the client's CPU, the server's CPU, or waiting):"]
    if not doc["machine"].get("aes_gcm_mb_s") and any(r["tls"] for r in doc["results"]):
        lines.append("(one core's AES-GCM rate is not recorded: crypto's share is not estimated)")
    width = max(len(label) for _, label, _, _ in rows)
    groups: dict[tuple[str, str | None, bool], list[tuple[str, str, str]]] = {}
    for key, label, v, why in rows:
        groups.setdefault(key, []).append((label, v, why))
    for key, members in groups.items():
        tally = Counter(v for _, v, _ in members)
        lines.append(
            f"{_group_title(key)}: "
            + ", ".join(f"{v} ({n} of {len(members)})" for v, n in tally.most_common())
        )
        for label, v, why in members:
            lines.append(f"  {label:<{width}}  {v}: {why}")
    return "\n".join(lines) + "\n"

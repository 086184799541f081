"""The tables of a bench document: plain text for the terminal, Markdown for the README.

Theory of operation: the layout follows iozone's throughput summary -- a header naming the
machine and software, then one block per workload (and smallfile phase), TLS off before TLS on,
one line per row: ``client → server (config)``, the median and every run's value, client and
server CPU-seconds, the server's busy cores, server CPU per GB (MB/s rows) or per operation
(ops/s rows), p50/p99 latency, and the ratio to the reference row with the event-threads of the
reference it used. The connection sweep follows as its own table. Everything is computed from
the document alone (``--table FILE`` renders a recorded run), plain ASCII-art columns, no
colour, lines of at most :data:`MAX_WIDTH` characters; measurements and ratios only.
"""

from __future__ import annotations

from typing import Any

from gfrpc.bench.experiment.report import is_reference, row_label

MAX_WIDTH = 120
NONE = "-"
Row = dict[str, Any]


def num(x: float | None) -> str:
    """A measurement with sensible digits: 1234, 123.4, 1.23; '-' for unknown."""
    if x is None:
        return NONE
    ax = abs(x)
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _size(n: float) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{int(n // div)} {unit}"
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def _where(machine: dict[str, Any]) -> str:
    """`` (/path/of/the/interpreter)`` when the run recorded it (older runs did not)."""
    path = machine.get("python_executable")
    return f" ({path})" if path else ""


def header_lines(doc: dict[str, Any]) -> list[str]:
    """The machine and software facts, the date and the command."""
    m = doc["machine"]
    aes = m.get("aes_gcm_mb_s")
    return [
        f"gfrpc bench, {m.get('date') or NONE}",
        f"machine: {m.get('cpu_model') or NONE}, {m.get('cores') or NONE} cores, "
        f"{m.get('kernel') or NONE}",
        f"Python {m.get('python') or NONE}{_where(m)}; {m.get('openssl') or 'OpenSSL ' + NONE}; "
        f"GlusterFS {m.get('glusterfs') or 'not installed'}; "
        f"fio {m.get('fio') or 'not installed'}; "
        f"gfrpc {m.get('gfrpc') or NONE}",
        f"AES-128-GCM, one core: {NONE if aes is None else f'{aes:.0f} MB/s'}",
        f"command: {doc.get('command') or NONE}",
    ]


def blocks(doc: dict[str, Any]) -> list[tuple[str, list[Row]]]:
    """(title, rows) per workload/phase, TLS off rows before TLS on; sweep rows excluded."""
    out: dict[tuple[str, str | None], list[Row]] = {}
    for row in doc["results"]:
        if "connection_count" not in row:
            out.setdefault((row["workload"], row["phase"]), []).append(row)
    titled = []
    for (workload, phase), rows in out.items():
        rows = [r for r in rows if not r["tls"]] + [r for r in rows if r["tls"]]
        first = rows[0]
        what = f"{workload} {phase}" if phase else workload
        n = max(len(r["runs"]) for r in rows)
        if first["unit"] == "MB/s" and first["bytes_total"] and first["streams"]:
            size = (
                f"{first['streams']} streams × {_size(first['bytes_total'] / first['streams'])},"
                f" {_size(first['record_bytes'])} records"
            )
        else:
            size = f"{first['streams']} streams, {first['ops_total'] or 0} operations"
        titled.append((f"{what}: {size}; {first['unit']}, median of {n} runs", rows))
    return titled


def _runs(row: Row) -> str:
    return " ".join("err" if v is None else num(v) for v in row["runs"])


def _short_runs(row: Row) -> str:
    got = [v for v in row["runs"] if v is not None]
    if not got:
        return "all err"
    return f"{num(min(got))}..{num(max(got))} ({len(got)}/{len(row['runs'])})"


def _latency(row: Row) -> str:
    lat = row["latency_ms"]
    return NONE if not lat else f"{num(lat.get('p50'))}/{num(lat.get('p99'))}"


def _ratio(row: Row) -> str:
    if row["ratio_to_reference"] is None:
        return NONE
    return f"{row['ratio_to_reference']:.2f} (x{row['reference_event_threads']})"


def main_cells(row: Row, short_runs: bool = False) -> list[str]:
    per = row["server_cpu_s_per_gb"] if row["unit"] == "MB/s" else row["server_cpu_us_per_op"]
    label = row_label(row) + (" (ref)" if is_reference(row) else "")
    return [
        label,
        num(row["value"]),
        _short_runs(row) if short_runs else _runs(row),
        num(row["client_cpu_s"]),
        num(row["server_cpu_s"]),
        num(row["server_busy_cores"]),
        num(per),
        _latency(row),
        _ratio(row),
    ]


def main_headers(unit: str) -> list[str]:
    per = "srv CPU-s/GB" if unit == "MB/s" else "srv µs/op"
    return [
        "client → server",
        unit,
        "runs",
        "cli CPU-s",
        "srv CPU-s",
        "busy",
        per,
        "p50/p99 ms",
        "ratio (ref)",
    ]


SWEEP_HEADERS = [
    "connections",
    "TLS",
    "server",
    "MB/s",
    "runs",
    "RSS MB",
    "threads",
    "busy",
    "p99 ms",
]


def sweep_cells(row: Row) -> list[str]:
    lat = row["latency_ms"] or {}
    return [
        str(row["connection_count"]),
        "on" if row["tls"] else "off",
        row_label(row).split(" → ", 1)[1],
        num(row["value"]),
        _runs(row),
        num(row["server_rss_mb"]),
        NONE if row["server_threads"] is None else str(row["server_threads"]),
        num(row["server_busy_cores"]),
        num(lat.get("p99")),
    ]


def _grid(
    headers: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,), indent: str = "  "
) -> list[str]:
    """Columns padded to their widest cell: those in ``left`` left-aligned, numbers right."""
    widths = [max(len(c) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        parts = [
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return (indent + "  ".join(parts)).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def _main_grid(rows: list[Row], unit: str) -> list[str]:
    lines = _grid(main_headers(unit), [main_cells(r) for r in rows], left=(0, 2))
    if max(len(x) for x in lines) > MAX_WIDTH:
        lines = _grid(
            main_headers(unit), [main_cells(r, short_runs=True) for r in rows], left=(0, 2)
        )
    return lines


def sweep_rows(doc: dict[str, Any]) -> list[Row]:
    return [r for r in doc["results"] if "connection_count" in r]


def render_table(doc: dict[str, Any]) -> str:
    """The plain table printed at the end of a run (or from a recorded ``--json`` file)."""
    lines = header_lines(doc)
    for title, rows in blocks(doc):
        lines += ["", title]
        for tls in (False, True):
            part = [r for r in rows if r["tls"] is tls]
            if part:
                lines.append(f" TLS {'on' if tls else 'off'}")
                lines += _main_grid(part, rows[0]["unit"])
    sweep = sweep_rows(doc)
    if sweep:
        s0 = sweep[0]
        lines += [
            "",
            f"connection sweep: {s0['workload']}, {s0['client']} client, "
            f"{_size(s0['record_bytes'])} records; MB/s by connection count",
        ]
        lines += _grid(SWEEP_HEADERS, [sweep_cells(r) for r in sweep], left=(1, 2, 4))
    if doc.get("notes"):
        lines += ["", "notes:"] + [f"  {n}" for n in doc["notes"]]
    return "\n".join(lines) + "\n"


def _md(headers: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    out = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---"] * left + ["---:"] * (len(headers) - left)) + "|",
    ]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return out


def markdown_tables(doc: dict[str, Any]) -> str:
    """The README's tables: header facts, one table per workload block (TLS as a column),
    then the sweep."""
    head = header_lines(doc)
    lines = [f"*{head[0]}*  ", "  \n".join(head[1:]), ""]
    for title, rows in blocks(doc):
        lines += [f"**{title}**", ""]
        cells = [[("on" if r["tls"] else "off")] + main_cells(r) for r in rows]
        lines += _md(["TLS"] + main_headers(rows[0]["unit"]), cells, left=2) + [""]
    sweep = sweep_rows(doc)
    if sweep:
        lines += ["**connection sweep**", ""]
        lines += _md(SWEEP_HEADERS, [sweep_cells(r) for r in sweep], left=3) + [""]
    return "\n".join(lines)

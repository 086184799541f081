"""Tables, aims and JSON for ``bench-transport``.

Rows are medians over repeats of one (kind, TLS, connections) cell; ``kind`` is
``baseline`` or a poller name. Ratios compare with the baseline row of the same TLS setting
and connection count. ``rich`` is used for the table when it is installed and stdout is a
terminal; otherwise plain text (also what tests and logs see).
"""

from __future__ import annotations

import json
import os
import platform
import ssl
import statistics
import sys
from typing import Any

KIND_ORDER = {"baseline": 0, "single": 1, "own-thread": 2, "pool": 3, "sharded": 4}
BASELINE_LABEL = "baseline (bare sockets)"
AIM_MBPS = 0.9
AIM_CPU = 1.3


def _client_poller_label(poller: Any) -> Any:
    return "same as server" if poller == "same" else poller


def run_info(**fields: Any) -> dict[str, Any]:
    """Header facts of a run (plus the machine's)."""
    info = {
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    info.update(fields)
    return info


def aggregate(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median rows with ratios to the matching baseline, sorted TLS, connections, kind."""
    groups: dict[tuple[str, bool, int], list[dict[str, Any]]] = {}
    for s in samples:
        groups.setdefault((s["kind"], s["tls"], s["connections"]), []).append(s)
    rows = []
    for (kind, tls, conns), ss in groups.items():
        rows.append(
            {
                "kind": kind,
                "tls": tls,
                "connections": conns,
                "repeats": len(ss),
                "mb_per_s": statistics.median(s["mb_per_s"] for s in ss),
                "cpu_s_per_gb": statistics.median(s["cpu_s_per_gb"] for s in ss),
                "client_cpu_share": statistics.median(
                    s["client_cpu_s"] / max(1e-9, s["client_cpu_s"] + s["server_cpu_s"]) for s in ss
                ),
                "mb_per_s_all": [round(s["mb_per_s"], 1) for s in ss],
            }
        )
    base = {(r["tls"], r["connections"]): r for r in rows if r["kind"] == "baseline"}
    for r in rows:
        b = base.get((r["tls"], r["connections"]))
        r["mbps_ratio"] = r["mb_per_s"] / b["mb_per_s"] if b and b["mb_per_s"] > 0 else None
        r["cpu_ratio"] = (
            r["cpu_s_per_gb"] / b["cpu_s_per_gb"] if b and b["cpu_s_per_gb"] > 0 else None
        )
    rows.sort(key=lambda r: (r["tls"], r["connections"], KIND_ORDER.get(r["kind"], 9), r["kind"]))
    return rows


def _find(rows: list[dict[str, Any]], kind: str, tls: bool, conns: int) -> dict[str, Any] | None:
    for r in rows:
        if r["kind"] == kind and r["tls"] == tls and r["connections"] == conns:
            return r
    return None


def aims(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's aims, each computed for this run: met True/False, or None if not measured."""
    out = []
    tls_conns = sorted({r["connections"] for r in rows if r["tls"]})
    best_by_conns: dict[int, dict[str, Any]] = {}
    for n in tls_conns:
        cands = [r for r in rows if r["tls"] and r["connections"] == n and r["kind"] != "baseline"]
        if cands:
            best_by_conns[n] = max(cands, key=lambda r: r["mb_per_s"])

    # 1. With TLS, the best poller reaches 0.9x the baseline's MB/s (at every connection count).
    parts, met = [], []
    for n, best in best_by_conns.items():
        ratio = best["mbps_ratio"]
        parts.append(f"{n} conn: {best['kind']} {_x(ratio)}")
        if ratio is not None:
            met.append(ratio >= AIM_MBPS)
    out.append(
        {
            "aim": f"TLS on: best poller >= {AIM_MBPS}x baseline MB/s",
            "met": all(met) if met else None,
            "detail": "; ".join(parts) or "not measured",
        }
    )

    # 2. With TLS, that best poller spends <= 1.3x the baseline's CPU-s per GB.
    parts, met = [], []
    for n, best in best_by_conns.items():
        ratio = best["cpu_ratio"]
        parts.append(f"{n} conn: {best['kind']} {_x(ratio)}")
        if ratio is not None:
            met.append(ratio <= AIM_CPU)
    out.append(
        {
            "aim": f"TLS on: CPU-s/GB of that poller <= {AIM_CPU}x baseline",
            "met": all(met) if met else None,
            "detail": "; ".join(parts) or "not measured",
        }
    )

    # 3. At 24 connections, pool or single is no slower than own-thread (each TLS setting).
    parts, met = [], []
    for tls in (False, True):
        own = _find(rows, "own-thread", tls, 24)
        others = [r for r in (_find(rows, "pool", tls, 24), _find(rows, "single", tls, 24)) if r]
        if own is None or not others:
            continue
        best = max(others, key=lambda r: r["mb_per_s"])
        ok = best["mb_per_s"] >= own["mb_per_s"]
        met.append(ok)
        parts.append(
            f"TLS {'on' if tls else 'off'}: {best['kind']} {best['mb_per_s']:.0f} vs "
            f"own-thread {own['mb_per_s']:.0f} MB/s"
        )
    out.append(
        {
            "aim": "24 connections: pool or single >= own-thread MB/s",
            "met": all(met) if met else None,
            "detail": "; ".join(parts) or "not measured",
        }
    )
    return out


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def _label(kind: str) -> str:
    return BASELINE_LABEL if kind == "baseline" else kind


#: how the header names ``--handler`` (a JSON of a run before the option means "workers")
_HANDLER_LABEL = {"workers": "handed to a worker pool", "inline": "run on the poller thread"}


def header_lines(meta: dict[str, Any]) -> list[str]:
    cipher = meta.get("cipher")
    tls = f"{meta.get('tls_version')} {cipher}" if cipher else "not measured (TLS off)"
    return [
        f"gfrpc bench-transport: {meta.get('payload', 0) // 1024} KiB calls, small reply, "
        f"window {meta.get('window')} per connection, {meta.get('volume')}, "
        f"median of {meta.get('repeats')} repeat(s)",
        f"Python {meta.get('python')}, {meta.get('openssl')}, {meta.get('cpus')} CPUs; "
        f"TLS negotiated: {tls}",
        f"pool event-threads {meta.get('event_threads')}; client poller: "
        f"{_client_poller_label(meta.get('client_poller'))}; "
        f"server calls {_HANDLER_LABEL.get(meta.get('handler') or 'workers', '?')}",
        "server in its own process; MB = 10^6 bytes of payload; CPU = client + server",
    ]


COLUMNS = (
    "poller",
    "TLS",
    "conns",
    "MB/s",
    "CPU-s/GB",
    "MB/s vs base",
    "CPU vs base",
    "client CPU %",
)


def _cells(r: dict[str, Any]) -> list[str]:
    return [
        _label(r["kind"]),
        "on" if r["tls"] else "off",
        str(r["connections"]),
        f"{r['mb_per_s']:.0f}",
        f"{r['cpu_s_per_gb']:.2f}",
        _x(r["mbps_ratio"]),
        _x(r["cpu_ratio"]),
        f"{100 * r['client_cpu_share']:.0f}",
    ]


def render_text(
    meta: dict[str, Any], rows: list[dict[str, Any]], aim_list: list[dict[str, Any]]
) -> str:
    """Plain-text table, aims below it."""
    table = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = header_lines(meta) + [""]
    for j, line in enumerate(table):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
        elif j + 1 < len(table) and (rows[j - 1]["tls"], rows[j - 1]["connections"]) != (
            rows[j]["tls"],
            rows[j]["connections"],
        ):
            lines.append("")
    lines.append("")
    lines.extend(aim_lines(aim_list))
    if meta.get("wall") is not None:
        lines.append(f"wall time {meta['wall']:.0f} s")
    return "\n".join(lines)


def aim_lines(aim_list: list[dict[str, Any]]) -> list[str]:
    lines = ["Aims (computed for this run):"]
    for a in aim_list:
        verdict = {True: "MET", False: "NOT MET", None: "not measured"}[a["met"]]
        lines.append(f"  [{verdict}] {a['aim']} -- {a['detail']}")
    return lines


def render(meta: dict[str, Any], rows: list[dict[str, Any]], aim_list: list[dict[str, Any]]) -> str:
    """The rich table when possible (a terminal and rich installed), else plain text."""
    if not sys.stdout.isatty():
        return render_text(meta, rows, aim_list)
    try:
        from io import StringIO

        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return render_text(meta, rows, aim_list)
    table = Table(title="\n".join(header_lines(meta)), title_justify="left")
    for i, c in enumerate(COLUMNS):
        table.add_column(c, justify="left" if i == 0 else "right")
    for j, r in enumerate(rows):
        end = j + 1 < len(rows) and (rows[j + 1]["tls"], rows[j + 1]["connections"]) != (
            r["tls"],
            r["connections"],
        )
        table.add_row(*_cells(r), end_section=end, style="dim" if r["kind"] == "baseline" else None)
    buf = StringIO()
    console = Console(file=buf, force_terminal=True, width=max(100, shutil_width()))
    console.print(table)
    text = buf.getvalue().rstrip("\n")
    tail = aim_lines(aim_list)
    if meta.get("wall") is not None:
        tail.append(f"wall time {meta['wall']:.0f} s")
    return text + "\n\n" + "\n".join(tail)


def shutil_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


def write_json(
    path: str,
    meta: dict[str, Any],
    samples: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    aim_list: list[dict[str, Any]],
) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"run": meta, "rows": rows, "aims": aim_list, "samples": samples}, f, indent=2)
        f.write("\n")

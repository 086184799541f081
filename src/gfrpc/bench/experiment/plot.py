"""``--plot FILE.png``: one bar chart per workload (and smallfile phase), from a bench document.

Theory of operation: each panel holds one workload block of the table. Bars are grouped by TLS
(off on the left, on on the right), one bar per row labelled ``fio→glusterfsd x2`` and so on;
the bar is the median, small dots are the single runs, and the server's busy cores are written
over each bar (the seed's "parallel threads" figure). The reference bar (fio → glusterfsd) is
hatched and dark so it stands out. A connection sweep, when present, gets a last panel: MB/s
against the connection count per server configuration. matplotlib (the ``bench`` extra) is
imported only here, with the Agg backend (no display needed); without it, a ConfigError says
how to install it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gfrpc.bench.experiment.report import is_reference, row_label
from gfrpc.bench.experiment.table import blocks, num, sweep_rows
from gfrpc.errors import ConfigError

COLOURS = {"fio": "#4C72B0", "gfrpc": "#DD8452"}
REFERENCE_COLOUR = "#333333"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError(
            "--plot needs matplotlib, which comes with gfrpc's bench extra: "
            "pip install 'gfrpc[bench]'"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bar_panel(ax: Any, title: str, rows: list[dict[str, Any]]) -> None:
    xs: list[float] = []
    labels: list[str] = []
    x = 0.0
    group_mid: list[tuple[float, str]] = []
    crowded = len(rows) > 12  # then the busy-cores labels stand upright, so they do not overlap
    for tls in (False, True):
        part = [r for r in rows if r["tls"] is tls]
        if not part:
            continue
        start = x
        for r in part:
            ref = is_reference(r)
            value = r["value"] or 0.0
            ax.bar(
                x,
                value,
                width=0.8,
                color=REFERENCE_COLOUR if ref else COLOURS.get(r["client"], "#999999"),
                hatch="//" if ref else None,
                edgecolor="white",
            )
            runs = [v for v in r["runs"] if v is not None]
            ax.plot([x] * len(runs), runs, "k.", markersize=3)
            busy = r["server_busy_cores"]
            top = max([value] + runs)
            ax.annotate(
                f"{num(busy)} c" if busy is not None else "- c",
                (x, top),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                va="bottom",
                fontsize=6 if crowded else 7,
                rotation=90 if crowded else 0,
            )
            xs.append(x)
            labels.append(row_label(r, arrow="→"))
            x += 1.0
        group_mid.append(((start + x - 1.0) / 2, f"TLS {'on' if tls else 'off'}"))
        x += 0.8
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=55, ha="right", fontsize=7)
    ax.set_ylabel(rows[0]["unit"])
    ax.set_title(title, fontsize=9, pad=16)
    ax.set_xlim(-0.7, max(x - 0.8 - 0.3, 3.5))
    ax.margins(y=0.15)
    for mid, text in group_mid:
        ax.text(
            mid,
            1.0,
            text,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
            fontweight="bold",
        )


def _sweep_panel(ax: Any, rows: list[dict[str, Any]]) -> None:
    lines: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r["value"] is not None:
            key = row_label(r, arrow="→") + (" TLS" if r["tls"] else "")
            lines.setdefault(key, []).append((r["connection_count"], r["value"]))
    for key, points in lines.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=key)
    ax.set_xscale("log")
    counts = sorted({r["connection_count"] for r in rows})
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.minorticks_off()
    ax.set_xlabel("connections")
    ax.set_ylabel("MB/s")
    ax.set_title("connection sweep", fontsize=9)
    ax.legend(fontsize=7)


def plot(doc: dict[str, Any], path: Path) -> None:
    """Write the PNG: a panel per workload block (+ the sweep), titled with date and machine."""
    plt = _pyplot()
    panels = blocks(doc)
    sweep = sweep_rows(doc)
    n = len(panels) + (1 if sweep else 0)
    if n == 0:
        raise ConfigError("nothing to plot: the document has no result rows")
    cols = min(2, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(7.0 * cols, 4.6 * nrows), squeeze=False)
    flat = [ax for line in axes for ax in line]
    for ax, (title, rows) in zip(flat, panels, strict=False):
        _bar_panel(ax, title, rows)
    if sweep:
        _sweep_panel(flat[len(panels)], sweep)
    for ax in flat[n:]:
        ax.axis("off")
    from matplotlib.patches import Patch

    fig.legend(
        handles=[
            Patch(
                facecolor=REFERENCE_COLOUR,
                hatch="//",
                edgecolor="white",
                label="fio → glusterfsd (reference)",
            ),
            Patch(facecolor=COLOURS["fio"], label="fio client"),
            Patch(facecolor=COLOURS["gfrpc"], label="gfrpc client"),
        ],
        loc="upper right",
        fontsize=8,
        ncol=3,
    )
    m = doc["machine"]
    fig.suptitle(
        f"gfrpc bench, {m.get('date') or '?'}: {m.get('cpu_model') or '?'}, "
        f"{m.get('cores') or '?'} cores, {m.get('kernel') or '?'}; numbers over bars: "
        "server busy cores",
        fontsize=10,
        x=0.02,
        ha="left",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    try:
        fig.savefig(path, format="png", dpi=110)
    except OSError as exc:
        raise ConfigError(f"cannot write the plot {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)

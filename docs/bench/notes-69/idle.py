"""Who leaves a CPU idle during fio's TLS seq-write (performance notes 69).

Usage: python3 idle.py PERF.DATA
(from ``perf record -e sched:sched_switch -g -a`` around one ``gfrpc bench`` of one server).

From the context switches alone: per CPU, each idle period starts when a task switches to
the idle task; the task that went to sleep there, its process and the kernel function it
blocked in (from the switch's call chain) are what the period is charged to. The I/O window
is taken as the 50 ms buckets in which fio's processes ran at least 0.2 of a core and the
busiest other process (the server) at least 0.6.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys

BUCKET = 0.05
_HEAD = re.compile(
    r"^\s*(?P<comm>.+?)\s+(?P<pid>-?\d+)/(?P<tid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?P<t>[\d.]+):\s+"
    r"prev_comm=.* prev_pid=(?P<prev>\d+) .*prev_state=(?P<state>\S+) ==> "
    r"next_comm=(?P<ncomm>.*) next_pid=(?P<next>\d+)"
)
_REASONS = (
    ("futex", ("futex_wait", "futex_q_lock", "__futex")),
    ("epoll_wait", ("do_epoll_wait", "ep_poll")),
    ("recv", ("tcp_recvmsg", "sk_wait_data")),
    ("send", ("tcp_sendmsg", "sk_stream_wait_memory")),
    ("poll/select", ("do_sys_poll", "do_select", "do_pselect")),
    ("sleep", ("hrtimer_nanosleep", "do_nanosleep")),
    ("pipe/read", ("pipe_read", "pipe_write")),
    ("wait4", ("do_wait",)),
)


def reason(frames: list[str]) -> str:
    joined = " ".join(frames)
    for name, marks in _REASONS:
        if any(m in joined for m in marks):
            return name
    for f in frames:
        if not f.startswith(("schedule", "__schedule", "preempt", "[unknown]")):
            return f
    return "?"


def perf_script(path: str, fields: str) -> str:
    """``perf script``'s text of ``path`` with ``fields`` (also used by gilwait.py)."""
    argv = ["perf", "script", "-i", path, "-F", fields]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def events(path: str):
    out = perf_script(path, "comm,pid,tid,cpu,time,trace,ip,sym")
    head = None
    frames: list[str] = []
    for line in out.splitlines():
        m = _HEAD.match(line)
        if m:
            if head is not None:
                yield head, frames
            head, frames = m, []
        elif line.strip() and head is not None:
            parts = line.split()
            if len(parts) >= 2:
                frames.append(parts[1].split("+")[0])
    if head is not None:
        yield head, frames


def main(path: str) -> None:
    tgid: dict[int, int] = {0: 0}
    kind: dict[int, str] = {}
    running: dict[int, tuple[int, float]] = {}  # cpu -> (tid, since)
    runs: list[tuple[int, int, float, float]] = []  # cpu, tid, start, end
    idles: list[tuple[int, float, float, int, str]] = []  # cpu, start, end, sleeper tid, why
    pending_idle: dict[int, tuple[float, int, str]] = {}
    for m, frames in events(path):
        cpu, t = int(m["cpu"]), float(m["t"])
        prev, nxt = int(m["prev"]), int(m["next"])
        if int(m["pid"]) > 0:
            tgid[int(m["tid"])] = int(m["pid"])
            kind.setdefault(int(m["pid"]), m["comm"].strip())
        if cpu in running:
            tid, since = running[cpu]
            runs.append((cpu, tid, since, t))
        if prev == 0 and cpu in pending_idle:
            start, sleeper, why = pending_idle.pop(cpu)
            idles.append((cpu, start, t, sleeper, why))
        if nxt == 0:
            pending_idle[cpu] = (t, prev, reason(frames) if m["state"] != "R" else "preempted")
        running[cpu] = (nxt, t)
    if not runs:
        sys.exit("no switches")
    t0 = min(r[2] for r in runs)
    nb = int((max(r[3] for r in runs) - t0) / BUCKET) + 1
    per = collections.defaultdict(lambda: [0.0] * nb)
    for _cpu, tid, s, e in runs:
        if tid == 0:
            continue
        p = tgid.get(tid, tid)
        b = int((s - t0) / BUCKET)
        while s < e and b < nb:
            edge = t0 + (b + 1) * BUCKET
            per[p][b] += min(e, edge) - s
            s, b = edge, b + 1
    fio = [p for p in per if kind.get(p, "").startswith("fio")]
    others = [p for p in per if p not in fio]
    total_other = {p: sum(per[p]) for p in others}
    server = max(total_other, key=total_other.get)
    busy = [
        b
        for b in range(nb)
        if sum(per[p][b] for p in fio) >= 0.2 * BUCKET and per[server][b] >= 0.6 * BUCKET
    ]
    inwin = set(busy)
    span = len(busy) * BUCKET
    print(f"server pid {server} ({kind.get(server)}), window {len(busy)} buckets = {span:.2f} s")
    cores = {
        "server": sum(per[server][b] for b in busy) / span,
        "fio": sum(per[p][b] for p in fio for b in busy) / span,
        "others": sum(per[p][b] for p in others if p != server for b in busy) / span,
    }
    idle_by = collections.Counter()
    idle_n = collections.Counter()
    lens = collections.defaultdict(list)
    for _cpu, s, e, sleeper, why in idles:
        if int((s - t0) / BUCKET) not in inwin:
            continue
        p = tgid.get(sleeper, sleeper)
        who = "server" if p == server else ("fio" if p in fio else kind.get(p, str(p)))
        idle_by[(who, why)] += e - s
        idle_n[(who, why)] += 1
        lens[who].append(e - s)
    idle = sum(idle_by.values())
    print("cores in the window: " + ", ".join(f"{k} {v:.2f}" for k, v in cores.items()))
    print(f"idle {idle / span:.2f} cores ({idle / span / 2:.1%} of the machine)")
    print("idle charged to the task that slept, and where it slept (cores, periods, mean µs):")
    for (who, why), v in idle_by.most_common(12):
        n = idle_n[(who, why)]
        print(f"  {who:<10} {why:<24} {v / span:5.3f}  {n:7d}  {v / n * 1e6:7.1f}")


if __name__ == "__main__":
    main(sys.argv[1])

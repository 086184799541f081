"""The campaign loop: mutate valid requests, send them to a live server, count what comes back.

Theory of operation. The server runs as a subprocess in a sandbox (``sandbox.py``). The runner
keeps ``conns`` connections and sends ``batch`` inputs at a time on one of them, round robin
(pipelined: one ``sendall``, then read until as many replies came, the server cut the
connection, or ``idle`` seconds passed). Replies are counted by kind (``wireclient.classify``);
inputs left unanswered count as "cut by server" or "no reply". A connection the server cut,
or one that stalled, is replaced, and every connection is replaced after ``rotate`` inputs
anyway (fresh connections exercise accept/SETVOLUME/cleanup and release fds and locks).

Most inputs are mutated (``mutate_ratio``), the rest are sent valid so the server keeps real
state (files, fds, locks) for later mutations to hit. A small share (``framing_ratio``) breaks
the record marking instead: those go on a throwaway connection that sends the bytes, half-closes
and waits for the server to close.

Every ``check_every`` inputs and at the end: the process must be alive, a fresh client must be
served (``Target.health``) and nothing outside the brick directory may have changed; the
server's resident and peak memory are recorded (``/proc/PID/status``) so a leak or a huge
allocation shows in the table. A dead
server is counted and restarted, so one crash does not end the campaign; the exit status
(``CampaignResult.ok``) is false if any check failed.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from gfrpc.errors import RemoteProtocolError
from gfrpc.fuzz.corpus import Seed
from gfrpc.fuzz.mutators import Mutator
from gfrpc.fuzz.sandbox import Sandbox, ServerProcess, can_isolate, sandbox_base
from gfrpc.fuzz.targets import TARGETS, Target
from gfrpc.fuzz.wireclient import CUT, NO_REPLY, RawConnection, classify
from gfrpc.programs.names import program_name
from gfrpc.tls import TLSOptions, make_context
from gfrpc.tls.certs import write_certs
from gfrpc.wire import rpcmsg
from gfrpc.wire.record import LAST_FRAGMENT

__all__ = ["CampaignConfig", "CampaignResult", "run_campaign"]


@dataclass
class CampaignConfig:
    target: str = "brick"
    count: int = 1000
    seed: int = 0
    poller: str = "pool"
    tls: bool = False
    batch: int = 8
    conns: int = 4
    rotate: int = 500
    idle: float = 2.0
    mutate_ratio: float = 0.9
    framing_ratio: float = 0.01
    report_every: int = 10000
    check_every: int = 50000
    tmpfs_mb: int = 1024
    isolate: bool | None = None  # None: when root with unshare
    nice: int = 0
    keep: bool = False  # keep the sandbox (for a post-mortem)


@dataclass
class CampaignResult:
    sent: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    framing: int = 0
    crashes: int = 0
    restarts: int = 0
    health_failures: list[str] = field(default_factory=list)
    outside_writes: list[str] = field(default_factory=list)
    crash_logs: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    exit_status: int | None = None
    rss_kib: list[int] = field(default_factory=list)  # server VmRSS at each check
    peak_kib: int = 0  # server VmHWM at the last check
    unanswered: list[str] = field(default_factory=list)  # the first inputs never answered (hex)

    @property
    def ok(self) -> bool:
        return not (self.crashes or self.health_failures or self.outside_writes)


class _Campaign:
    def __init__(self, cfg: CampaignConfig, out: TextIO) -> None:
        self.cfg, self.out = cfg, out
        self.rng = random.Random(cfg.seed)
        self.mutator = Mutator(self.rng)
        isolate = can_isolate() if cfg.isolate is None else cfg.isolate
        self.sandbox = Sandbox(sandbox_base(isolate))
        self.result = CampaignResult()
        tls_dir = None
        client_tls = None
        if cfg.tls:
            tls_dir = str(self.sandbox.work / "certs")
            write_certs(tls_dir, "gfrpc-fuzz")
            client_tls = make_context(TLSOptions.from_dir(tls_dir), server_side=False)
        self.target: Target = TARGETS[cfg.target](self.sandbox, client_tls)
        self.server = ServerProcess(
            self.sandbox,
            self.target.server_args(cfg.poller, tls_dir),
            isolate=isolate,
            tmpfs_mb=cfg.tmpfs_mb,
            nice=cfg.nice,
        )
        self.seeds: list[Seed] = []
        self.samples: list[bytes] = []
        self.headers: dict[str, int] = {}
        self.conns: list[RawConnection | None] = [None] * cfg.conns
        self.xid = 0x1000

    # -- server life ----------------------------------------------------------------------------
    def start_server(self) -> None:
        self.server.start()
        self.seeds = self.target.seeds(self.server.port)
        self._memory()
        self.samples = [s.record(0) for s in self.seeds]
        self.headers = {s.name: s.header_len for s in self.seeds}

    def check(self, final: bool = False) -> None:
        r = self.result
        if not self.server.alive():
            r.crashes += 1
            status = self.server.proc.returncode if self.server.proc else None
            r.crash_logs.append(
                f"after {r.sent} inputs, exit status {status}:\n{self.server.tail(30)}"
            )
            self.say(f"SERVER DIED after {r.sent} inputs (status {status}):\n{self.server.tail()}")
            self._close_all()
            if not final:
                r.restarts += 1
                self.start_server()
            return
        self._memory()
        try:
            self.target.health(self.server.port)
        except OSError as exc:
            r.health_failures.append(f"after {r.sent} inputs: {exc}")
            self.say(f"HEALTH CHECK FAILED after {r.sent} inputs: {exc}")
        changes = self.sandbox.changes()
        new = [c for c in changes if c not in r.outside_writes]
        if new:
            r.outside_writes += new
            self.say(f"WRITTEN OUTSIDE THE BRICK after {r.sent} inputs: {new[:10]}")

    def _memory(self) -> None:
        """Record the server's resident and peak memory (a leak shows as a steady rise)."""
        proc = self.server.proc
        fields: dict[str, int] = {}
        try:
            with open(f"/proc/{proc.pid if proc else 0}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        fields[key] = int(value.split()[0])
        except (OSError, ValueError):
            return
        if "VmRSS" in fields:
            self.result.rss_kib.append(fields["VmRSS"])
        self.result.peak_kib = max(self.result.peak_kib, fields.get("VmHWM", 0))

    # -- inputs ---------------------------------------------------------------------------------
    def next_input(self) -> tuple[bytes, Seed]:
        seed = self.rng.choice(self.seeds)
        self.xid = (self.xid + 1) & 0x7FFFFFFF
        record = seed.record(self.xid)
        if self.rng.random() < self.cfg.mutate_ratio:
            record, _ = self.mutator.mutate(record, self.samples, self.headers[seed.name])
        return record, seed

    def _conn(self, k: int) -> RawConnection:
        conn = self.conns[k]
        if conn is None:
            conn = self.conns[k] = self.target.connect(self.server.port)
            self.result.connections += 1
        return conn

    def _drop(self, k: int) -> None:
        conn, self.conns[k] = self.conns[k], None
        if conn is not None:
            conn.close()

    def _close_all(self) -> None:
        for k in range(len(self.conns)):
            self._drop(k)

    def send_batch(self, k: int, n: int) -> None:
        """``n`` inputs: those whose RPC header still decodes pipelined on connection ``k``,
        each one with a broken header afterwards on a connection of its own (the server
        rightly cuts the connection there, which would otherwise discard the rest of the
        batch unread)."""
        sent: dict[int, tuple[int, int]] = {}
        good: list[tuple[bytes, rpcmsg.CallHeader]] = []
        broken: list[bytes] = []
        for _ in range(n):
            record, _seed = self.next_input()
            header = _call_header(record)
            if header is None:
                broken.append(record)
            else:
                sent[header.xid] = (header.prog, header.proc)
                good.append((record, header))
        if good:
            self._send_on(k, good, sent)
        for record in broken:
            self._send_alone(record, sent)

    def _send_alone(self, record: bytes, sent: dict[int, tuple[int, int]]) -> None:
        """A record with a broken header, on a fresh connection of its own (no set-up: the
        header is all the server reads)."""
        kinds = self.result.kinds
        try:
            conn = RawConnection(self.server.port, self.target.tls)
        except OSError:
            kinds["connect failed"] += 1
            return
        try:
            conn.send_records([record])
            replies, cut = conn.read_replies(1, self.cfg.idle)
        except OSError:
            replies, cut = [], True
        finally:
            conn.close()
        for reply in replies:
            kinds[classify(reply, sent)] += 1
        if not replies:
            kinds[CUT if cut else NO_REPLY] += 1

    def _send_on(
        self, k: int, batch: list[tuple[bytes, rpcmsg.CallHeader]], sent: dict[int, tuple[int, int]]
    ) -> None:
        kinds, n = self.result.kinds, len(batch)
        try:
            conn = self._conn(k)
            conn.send_records([record for record, _ in batch])
        except OSError:
            kinds[CUT] += n
            self._drop(k)
            return
        replies, cut = conn.read_replies(n, self.cfg.idle)
        if len(replies) < n and not cut:  # slow, or dropped? wait longer to tell them apart
            late, cut = conn.read_replies(n - len(replies), self.cfg.idle * 5)
            kinds[f"(of which slower than {self.cfg.idle:g} s)"] += len(late)
            replies += late
        for reply in replies:
            kinds[classify(reply, sent)] += 1
        missing = n - len(replies)
        if missing and cut:
            kinds[CUT] += missing
        elif missing:  # name what went unanswered: a dropped call is worth a look
            answered = Counter(_xid(reply) for reply in replies)
            for record, header in batch:
                if answered[header.xid] > 0:
                    answered[header.xid] -= 1
                else:
                    name = program_name(header.prog, header.vers) or f"prog {header.prog}"
                    kinds[f"{NO_REPLY}: {name} v{header.vers} proc {header.proc}"] += 1
                    if len(self.result.unanswered) < 20:
                        self.result.unanswered.append(f"{name} proc {header.proc}: {record.hex()}")
        if cut or missing or conn.sent >= self.cfg.rotate:
            self._drop(k)

    def send_framing(self) -> None:
        """One record with a lying record mark, on a throwaway connection."""
        record, _ = self.next_input()
        n = len(record)
        lie = self.rng.choice((n + 4, n + 1000, max(n - 4, 0), 0x7FFFFFFF, 1 << 30, 0))
        mark = lie & 0x7FFFFFFF
        if self.rng.random() < 0.8:
            mark |= LAST_FRAGMENT
        data = mark.to_bytes(4, "big") + record
        if self.rng.random() < 0.3:  # a valid fragment split, then junk in the last one
            data = (4).to_bytes(4, "big") + record[:4] + data
        self.result.framing += 1
        try:
            conn = RawConnection(self.server.port, self.target.tls)
        except OSError:
            self.result.kinds["framing: connect failed"] += 1
            return
        try:
            conn.send_raw(data)
            conn.shutdown_write()
            closed = conn.drain_until_closed(self.cfg.idle * 2)
            self.result.kinds[
                "framing: closed by server" if closed else "framing: NOT closed by server"
            ] += 1
        except OSError:
            self.result.kinds["framing: closed by server"] += 1
        finally:
            conn.close()

    # -- reporting ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def progress(self, started: float) -> None:
        r = self.result
        dt = time.monotonic() - started
        bad = r.kinds[CUT] + r.kinds[NO_REPLY]
        self.say(
            f"fuzz {self.cfg.target}: {r.sent}/{self.cfg.count} inputs, "
            f"{r.sent / dt if dt else 0:.0f}/s, cut/no-reply {bad}, "
            f"SYSTEM_ERR {r.kinds['SYSTEM_ERR']}, crashes {r.crashes}, "
            f"health failures {len(r.health_failures)}, outside writes "
            f"{len(r.outside_writes)}"
        )

    # -- main loop ------------------------------------------------------------------------------
    def run(self) -> CampaignResult:
        cfg, r = self.cfg, self.result
        started = time.monotonic()
        try:
            self.start_server()
            k = 0
            next_report, next_check = cfg.report_every, cfg.check_every
            while r.sent < cfg.count:
                if self.rng.random() < cfg.framing_ratio:
                    self.send_framing()
                    r.sent += 1
                else:
                    n = min(cfg.batch, cfg.count - r.sent)
                    self.send_batch(k, n)
                    r.sent += n
                    k = (k + 1) % cfg.conns
                if r.sent >= next_check:
                    next_check += cfg.check_every
                    self.check()
                if r.sent >= next_report:
                    next_report += cfg.report_every
                    self.progress(started)
            self._close_all()
            self.check(final=True)
        finally:
            self._close_all()
            r.elapsed = time.monotonic() - started
            r.exit_status = self.server.stop()
            if not cfg.keep:
                self.sandbox.remove()
            else:
                self.say(f"sandbox kept in {self.sandbox.work}")
        return r


def _call_header(record: bytes) -> rpcmsg.CallHeader | None:
    """The record's CALL header, or None when it does not decode as one (what the server
    checks first, and closes the connection for)."""
    try:
        header, _ = rpcmsg.decode_message(record)
    except RemoteProtocolError:
        return None
    return header if isinstance(header, rpcmsg.CallHeader) else None


def _mib(kib: list[int]) -> str:
    return f"{kib[0] / 1024:.0f}" if kib and kib[0] else "?"


def _xid(reply: bytes) -> int:
    return int.from_bytes(reply[:4], "big")


def format_table(cfg: CampaignConfig, r: CampaignResult) -> str:
    """The final table (plain text, one row per outcome)."""
    rate = r.sent / r.elapsed if r.elapsed else 0.0
    lines = [
        f"gfrpc fuzz campaign: target {cfg.target}, poller {cfg.poller}, "
        f"TLS {'on' if cfg.tls else 'off'}, seed {cfg.seed}",
        f"{'inputs sent':<44}{r.sent:>12}",
    ]
    for kind, n in sorted(r.kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {kind:<42}{n:>12}")
    lines += [
        f"{'framing inputs (lying record marks)':<44}{r.framing:>12}",
        f"{'connections opened':<44}{r.connections:>12}",
        f"{'server crashes':<44}{r.crashes:>12}",
        f"{'server restarts':<44}{r.restarts:>12}",
        f"{'health check failures':<44}{len(r.health_failures):>12}",
        f"{'paths written outside the brick':<44}{len(r.outside_writes):>12}",
        f"{'server exit status on SIGTERM':<44}{str(r.exit_status):>12}",
        f"{'server RSS MiB: first check / last / peak':<44}"
        f"{_mib(r.rss_kib[:1])} / {_mib(r.rss_kib[-1:])} / {_mib([r.peak_kib])}",
        "server RSS MiB at each check: " + " ".join(_mib([k]) for k in r.rss_kib),
        f"{'elapsed':<44}{r.elapsed:>11.1f}s",
        f"{'rate':<44}{rate:>10.0f}/s",
        f"{'result':<44}{'OK' if r.ok else 'FAILED':>12}",
    ]
    for text in (*r.crash_logs, *r.health_failures, *r.outside_writes[:20]):
        lines.append(f"! {text}")
    for text in r.unanswered:
        lines.append(f"? no reply to {text[:600]}")
    return "\n".join(lines)


def run_campaign(cfg: CampaignConfig, out: TextIO = sys.stdout) -> CampaignResult:
    """Run one campaign and print its progress and final table to ``out``."""
    result = _Campaign(cfg, out).run()
    print(format_table(cfg, result), file=out, flush=True)
    return result

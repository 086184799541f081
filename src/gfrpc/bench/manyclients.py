"""Many clients at once on one brick: N connections, each SETVOLUME'd, each doing a verified
mix of raw v400 FOPs on its own file and on shared ones, with the latency of every call.

Theory of operation. All connections are :class:`~gfrpc.rpc.RpcClient` objects on **one**
client poller (``pool`` by default), so the client side costs a fixed number of threads
whatever N is: the poller's event threads, the shared timer thread and ``threads`` driver
threads. Each driver thread owns every ``threads``-th client and runs it through the phases
below one call at a time (at most ``threads`` calls are in flight, which is what bounds the
queueing part of the latency). A client connects and sends SETVOLUME straight away (a brick
may close a connection that sends no complete request for a while), and keeps its connection
through every phase, so that in ``steady`` all N connections are open at the brick at once:
that is when the brick's RSS and threads are read.

Phases, per client ``i`` (each reply checked; a wrong one is an error, counted and kept):

* ``connect``: TCP (+TLS) connect and SETVOLUME (``op_ret`` 0).
* ``work``: CREATE ``load/cNNNN`` (exclusive), WRITE its known content, STAT (size and
  regular-file type), READ it back (bytes equal), READ a shared file through the anonymous fd
  (bytes equal), OPENDIR + READDIRP (even i) or READDIR (odd i) of ``shared/`` (exactly the
  shared names; READDIRP sizes equal) + RELEASEDIR, RELEASE.
* ``steady`` (``rounds`` times, all connections open): STAT, WRITE a new block at the end
  through the anonymous fd, READ the whole file back.

The setup (``load/``, ``shared/`` and its files) is made by one extra client first; at the end
that client lists ``load/`` and finds exactly the N files.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gfrpc.bench.procstat import percentile, rss_bytes, thread_count
from gfrpc.programs import fops as fp
from gfrpc.programs import handshake as hs
from gfrpc.programs.fops_types import ROOT_GFID
from gfrpc.rpc import RpcClient
from gfrpc.transport import Poller, make_poller
from gfrpc.wire.gfdict import encode_serialized_dict

P = fp.FopProc
ROOT = ROOT_GFID
ANON = fp.GF_ANON_FD_NO
SHARED_FILES = 8
SHARED_SIZE = 64 * 1024
BLOCK = 4096


class CheckFailed(Exception):
    """A reply that is not what the brick must answer."""


def content(tag: str, size: int) -> bytes:
    """Deterministic bytes for ``tag`` (sha256 counter stream), so any reader can check them."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += hashlib.sha256(f"{tag}/{n}".encode()).digest()
        n += 1
    return bytes(out[:size])


class RawClient:
    """One connection speaking raw v400 FOPs; ``timed`` records each call's latency."""

    def __init__(
        self,
        address: str,
        brick_path: str,
        poller: Poller,
        *,
        tls: Any = None,
        record: Callable[[str, float], None] | None = None,
    ) -> None:
        self.brick_path = brick_path
        self.rpc = RpcClient(address, poller=poller, tls=tls, ping_timeout=0, frame_timeout=120)
        self._record = record

    def connect_and_setvolume(self) -> None:
        t = time.perf_counter()
        self.rpc.connect(timeout=60)
        params: dict[str, str | int | bytes] = {
            "process-uuid": f"CTX_ID:{os.urandom(8).hex()}-GRAPH_ID:0-PID:{os.getpid()}-"
            "HOST:load-PC_NAME:load-client-0-RECON_NO:-0",
            "fops-version": fp.GLUSTER_FOP_PROGRAM,
            "remote-subvolume": self.brick_path,
            "opversion": 100000,
            "client-version": "10.3",
            "transport-type": "socket",
            "clnt-lk-version": 1,
        }
        body = self.rpc.call(
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.SETVOLUME,
            hs.GfSetvolumeReq(dict=encode_serialized_dict(params)).pack(),
        ).body
        rsp = hs.GfSetvolumeRsp.unpack(body)
        if rsp.op_ret != 0:
            raise CheckFailed(f"SETVOLUME: op_ret {rsp.op_ret} errno {rsp.op_errno}")
        if self._record:
            self._record("CONNECT+SETVOLUME", time.perf_counter() - t)

    def fop(self, proc: P, req: Any, payload: bytes | None = None) -> tuple[Any, bytes]:
        """Call ``proc``; a reply with ``op_ret`` < 0 raises :class:`CheckFailed`."""
        args = fp.encode_write_request(req, payload) if payload is not None else req.pack()
        t = time.perf_counter()
        reply = self.rpc.call(fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION, proc, args)
        dt = time.perf_counter() - t
        rsp, data = fp.decode_reply(proc, reply.body)
        if self._record:
            self._record(proc.name, dt)
        if rsp.op_ret < 0:
            raise CheckFailed(f"{proc.name}: {os.strerror(rsp.op_errno)} (errno {rsp.op_errno})")
        return rsp, bytes(data)

    # -- the FOPs used here ----------------------------------------------------------------------
    def lookup(self, pargfid: bytes, name: str) -> Any:
        return self.fop(P.LOOKUP, fp.GfxLookupReq(pargfid=pargfid, bname=name))[0]

    def mkdir(self, pargfid: bytes, name: str) -> bytes:
        rsp, _ = self.fop(
            P.MKDIR, fp.GfxMkdirReq(pargfid=pargfid, bname=name, mode=0o755, umask=0o022)
        )
        return bytes(rsp.stat.ia_gfid)

    def create(self, pargfid: bytes, name: str) -> tuple[bytes, int]:
        rsp, _ = self.fop(
            P.CREATE,
            fp.GfxCreateReq(
                pargfid=pargfid,
                bname=name,
                flags=os.O_RDWR | os.O_CREAT | os.O_EXCL,
                mode=0o644,
                umask=0o022,
            ),
        )
        return bytes(rsp.stat.ia_gfid), rsp.fd

    def write(self, gfid: bytes, fd: int, offset: int, data: bytes) -> None:
        rsp, _ = self.fop(
            P.WRITE, fp.GfxWriteReq(gfid=gfid, fd=fd, offset=offset, size=len(data)), data
        )
        if rsp.op_ret != len(data):
            raise CheckFailed(f"WRITE: {rsp.op_ret} of {len(data)} bytes")

    def read(self, gfid: bytes, fd: int, offset: int, size: int) -> bytes:
        return self.fop(P.READ, fp.GfxReadReq(gfid=gfid, fd=fd, offset=offset, size=size))[1]

    def stat(self, gfid: bytes) -> Any:
        return self.fop(P.STAT, fp.GfxStatReq(gfid=gfid))[0].stat

    def release(self, gfid: bytes, fd: int) -> None:
        self.fop(P.RELEASE, fp.GfxReleaseReq(gfid=gfid, fd=fd))

    def list_dir(self, gfid: bytes, *, plus: bool) -> dict[str, int]:
        """OPENDIR, READDIR(P) until the end, RELEASEDIR: ``{name: size}`` (size -1 without
        READDIRP), ``.`` and ``..`` left out."""
        fd = self.fop(P.OPENDIR, fp.GfxOpendirReq(gfid=gfid))[0].fd
        out: dict[str, int] = {}
        offset = 0
        try:
            while True:
                if plus:
                    rsp, _ = self.fop(
                        P.READDIRP, fp.GfxReaddirpReq(gfid=gfid, fd=fd, offset=offset, size=65536)
                    )
                else:
                    rsp, _ = self.fop(
                        P.READDIR, fp.GfxReaddirReq(gfid=gfid, fd=fd, offset=offset, size=65536)
                    )
                if not rsp.reply:
                    return out
                for e in rsp.reply:
                    if e.name not in (".", ".."):
                        out[e.name] = e.stat.ia_size if plus else -1
                    offset = e.d_off
        finally:
            self.fop(P.RELEASEDIR, fp.GfxReleasedirReq(gfid=gfid, fd=fd))

    def close(self) -> None:
        self.rpc.close()


@dataclass
class LoadResult:
    """What :func:`run_load` measured."""

    clients: int
    threads: int
    ops: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    bytes_verified: int = 0
    elapsed: float = 0.0
    steady_connections: int = 0
    brick: dict[str, int] = field(default_factory=dict)  # rss, threads while all connected
    client_threads: int = 0
    client_rss: int = 0

    def p(self, q: float, kind: str | None = None) -> float:
        """Latency quantile in seconds, of one kind of call or of all FOPs (not connects)."""
        if kind is not None:
            values = self.latency.get(kind, [])
        else:
            values = [v for k, vs in self.latency.items() if k != "CONNECT+SETVOLUME" for v in vs]
        return percentile(sorted(values), q)

    def lines(self) -> list[str]:
        total = sum(self.ops.values())
        out = [
            f"{self.clients} clients, {self.threads} driver threads: {total} calls in "
            f"{self.elapsed:.1f} s ({total / max(self.elapsed, 1e-9):.0f}/s), "
            f"{self.error_count} errors, {self.bytes_verified} bytes verified",
            f"latency of FOPs ms: p50 {self.p(0.5) * 1e3:.2f} p99 {self.p(0.99) * 1e3:.2f} "
            f"max {self.p(1.0) * 1e3:.2f}; connect+SETVOLUME p99 "
            f"{self.p(0.99, 'CONNECT+SETVOLUME') * 1e3:.1f} ms",
        ]
        for kind in sorted(self.latency):
            out.append(
                f"  {kind:<18} n={len(self.latency[kind]):<6} p99 "
                f"{self.p(0.99, kind) * 1e3:8.2f} ms"
            )
        if self.brick:
            out.append(
                f"brick with {self.steady_connections} connections: RSS "
                f"{self.brick['rss'] / (1 << 20):.1f} MiB, {self.brick['threads']} threads "
                f"(before clients: RSS {self.brick['rss0'] / (1 << 20):.1f} MiB, "
                f"{self.brick['threads0']} threads)"
            )
        out.append(
            f"client process: {self.client_threads} threads, RSS "
            f"{self.client_rss / (1 << 20):.1f} MiB"
        )
        return out


class _Shared:
    """Gfids of the setup, known to every driver."""

    def __init__(self, load: bytes, shared: bytes, files: dict[str, tuple[bytes, bytes]]) -> None:
        self.load, self.shared, self.files = load, shared, files


def _setup(c: RawClient, prefix: str) -> _Shared:
    top = c.mkdir(ROOT, prefix)
    load = c.mkdir(top, "load")
    shared = c.mkdir(top, "shared")
    files = {}
    for k in range(SHARED_FILES):
        name = f"s{k}"
        data = content(f"{prefix}/shared/{name}", SHARED_SIZE)
        gfid, fd = c.create(shared, name)
        c.write(gfid, fd, 0, data)
        c.release(gfid, fd)
        files[name] = (gfid, data)
    return _Shared(load, shared, files)


def run_load(
    address: str,
    brick_path: str,
    *,
    clients: int = 1000,
    threads: int = 32,
    rounds: int = 2,
    poller: str = "pool",
    event_threads: int = 2,
    tls: Any = None,
    brick_pid: int | None = None,
    prefix: str | None = None,
    say: Callable[[str], None] | None = None,
) -> LoadResult:
    """Run the load described in the module docstring against the brick at ``address``."""
    prefix = prefix or f"many-{os.getpid()}-{int(time.time())}"
    result = LoadResult(clients=clients, threads=threads)
    lock = threading.Lock()

    def record(kind: str, dt: float) -> None:
        with lock:
            result.latency[kind].append(dt)
            result.ops[kind] += 1

    def fail(where: str, exc: BaseException) -> None:
        with lock:
            result.error_count += 1
            if len(result.errors) < 20:
                result.errors.append(f"{where}: {type(exc).__name__}: {exc}")

    def verified(n: int) -> None:
        with lock:
            result.bytes_verified += n

    p = make_poller(poller, event_threads)
    p.start()
    admin = RawClient(address, brick_path, p, tls=tls)
    conns: list[RawClient | None] = [None] * clients
    own: dict[int, tuple[bytes, bytes]] = {}  # i -> (gfid, content so far)
    try:
        if brick_pid is not None:
            result.brick = {"rss0": rss_bytes(brick_pid), "threads0": thread_count(brick_pid)}
        admin.connect_and_setvolume()
        setup = _setup(admin, prefix)
        names = sorted(setup.files)
        phase_done = threading.Barrier(threads + 1)
        go_steady = threading.Event()
        t0 = time.perf_counter()

        def work(i: int) -> None:
            c = RawClient(address, brick_path, p, tls=tls, record=record)
            conns[i] = c
            c.connect_and_setvolume()
            data = content(f"{prefix}/c{i}", BLOCK + (i * 37) % BLOCK)
            gfid, fd = c.create(setup.load, f"c{i:04d}")
            c.write(gfid, fd, 0, data)
            own[i] = (gfid, data)
            st = c.stat(gfid)
            if st.ia_size != len(data) or not stat.S_ISREG(st.mode):
                raise CheckFailed(f"STAT c{i:04d}: size {st.ia_size} mode {st.mode:o}")
            got = c.read(gfid, fd, 0, len(data) + 100)
            if got != data:
                raise CheckFailed(f"READ c{i:04d}: {len(got)} bytes, content differs")
            sname = names[i % len(names)]
            sgfid, sdata = setup.files[sname]
            got = c.read(sgfid, ANON, 0, SHARED_SIZE)
            if got != sdata:
                raise CheckFailed(f"READ shared/{sname}: {len(got)} bytes, content differs")
            listing = c.list_dir(setup.shared, plus=i % 2 == 0)
            if sorted(listing) != names:
                raise CheckFailed(f"READDIR shared/: {sorted(listing)}")
            if i % 2 == 0 and any(v != SHARED_SIZE for v in listing.values()):
                raise CheckFailed(f"READDIRP shared/: sizes {listing}")
            c.release(gfid, fd)
            verified(2 * len(data) + SHARED_SIZE)

        def steady(i: int, r: int) -> None:
            c = conns[i]
            if c is None or i not in own:
                return
            gfid, data = own[i]
            st = c.stat(gfid)
            if st.ia_size != len(data):
                raise CheckFailed(f"STAT c{i:04d}: size {st.ia_size}, expected {len(data)}")
            block = content(f"{prefix}/c{i}/r{r}", 512)
            c.write(gfid, ANON, len(data), block)
            data += block
            own[i] = (gfid, data)
            got = c.read(gfid, ANON, 0, len(data) + 100)
            if got != data:
                raise CheckFailed(f"READ c{i:04d} round {r}: {len(got)} bytes, content differs")
            verified(len(data))

        def driver(k: int) -> None:
            mine = range(k, clients, threads)
            for i in mine:
                try:
                    work(i)
                except Exception as exc:  # counted; the run goes on
                    fail(f"client {i} work", exc)
            phase_done.wait()
            go_steady.wait()
            for r in range(rounds):
                for i in mine:
                    try:
                        steady(i, r)
                    except Exception as exc:
                        fail(f"client {i} steady {r}", exc)

        workers = [
            threading.Thread(target=driver, args=(k,), name=f"load-driver-{k}", daemon=True)
            for k in range(threads)
        ]
        for w in workers:
            w.start()
        phase_done.wait()
        result.steady_connections = sum(1 for c in conns if c is not None and c.rpc.connected)
        if brick_pid is not None:
            result.brick["rss"] = rss_bytes(brick_pid)
            result.brick["threads"] = thread_count(brick_pid)
        result.client_threads = thread_count()
        result.client_rss = rss_bytes()
        if say:
            say(
                f"all {clients} clients done with their first mix; "
                f"{result.steady_connections} connected; steady rounds start"
            )
        go_steady.set()
        for w in workers:
            w.join()
        result.elapsed = time.perf_counter() - t0
        listing = admin.list_dir(setup.load, plus=False)
        expected = {f"c{i:04d}" for i in own}
        if set(listing) != expected:
            fail(
                "final listing of load/",
                CheckFailed(
                    f"{len(listing)} names, {len(expected)} expected; "
                    f"missing {sorted(expected - set(listing))[:5]}, "
                    f"unexpected {sorted(set(listing) - expected)[:5]}"
                ),
            )
        if len(own) != clients:
            fail("clients", CheckFailed(f"only {len(own)} of {clients} created their file"))
        return result
    finally:
        for c in conns:
            if c is not None:
                c.close()
        admin.close()
        p.stop()

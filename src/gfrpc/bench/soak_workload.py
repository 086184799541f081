"""The soak's workload: one :class:`SoakClient` per connection doing verified file operations
against a model of what its directory must hold, and the :class:`Gate` that parks them all so
that descriptors can be counted at a quiet moment.

Theory of operation. Each client owns one directory and a model ``{name: (size, sha256)}`` of
it. A file enters the model only after its CREATE, WRITEs (and, sometimes, FSYNC) and close
were all acknowledged; from then on it must read back byte-exact (same length, same digest)
and stat with the same size until the client itself renames or unlinks it, and a listing of
the directory must show exactly the model's names. Anything else is counted: ``lost`` (an
acknowledged file gone), ``verify`` (wrong bytes, size or names) or ``error`` (an operation
that failed). The model is bounded (``max_files``): at the bound the next step unlinks, so
memory and disk use stay flat however long the run.

Contents: a header naming the file and its seed, then a slice (at an offset chosen by the
seed) of a random block the client made once; so every file is distinct and reproducible, and
all it costs to remember is the digest. Sizes: mostly small, some of a few hundred KiB, a few
over 1 MiB (several pipelined WRITE/READ records); see :func:`file_size` for why the large
ones come from a small set.

The client allocates nothing per operation on the data path: files are built in and read
back into two buffers made once (reads land with ``readinto``), and every number the workload
keeps is fixed-size (counters, a log-bucket latency histogram, the first 20 error messages).
So the RSS the soak measures of itself is the RPC stack's, not the measuring's.

The :class:`Gate`: workers call :meth:`Gate.checkpoint` between operations; the sampler
calls :meth:`Gate.pause`, which returns once every worker is parked (or a timeout passed),
then :meth:`Gate.resume`. Between operations a client holds no open file, so at that moment
the brick's descriptor count is exact and "no growth" can mean zero.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import posixpath
import random
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KiB, MiB = 1 << 10, 1 << 20

#: (operation, weight) of a step when the model is neither empty nor full
MIX = (("create", 4), ("read", 4), ("stat", 3), ("rename", 1), ("unlink", 1), ("readdir", 1))


class Histogram:
    """Latencies in buckets of ×1.1 from 10 µs: fixed memory, ~5 % resolution."""

    BASE, STEP, SIZE = 10e-6, math.log(1.1), 200

    def __init__(self) -> None:
        self.counts = [0] * self.SIZE
        self.n = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        k = 0 if seconds <= self.BASE else int(math.log(seconds / self.BASE) / self.STEP) + 1
        self.counts[min(k, self.SIZE - 1)] += 1
        self.n += 1
        self.max = max(self.max, seconds)

    def quantile(self, q: float) -> float:
        """Upper edge of the bucket holding the ``q`` quantile (seconds); 0 when empty."""
        if self.n == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.n))
        seen = 0
        for k, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return min(self.BASE * math.exp(self.STEP * k), self.max)
        return self.max


class SoakStats:
    """Counters shared by all clients (under one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()  # "lost", "verify", "error"
        self.messages: list[str] = []
        self.bytes_written = 0
        self.bytes_verified = 0
        self.latency = Histogram()

    def done(self, op: str, seconds: float, written: int = 0, verified: int = 0) -> None:
        with self.lock:
            self.ops[op] += 1
            self.latency.add(seconds)
            self.bytes_written += written
            self.bytes_verified += verified

    def fail(self, kind: str, text: str) -> None:
        with self.lock:
            self.failures[kind] += 1
            if len(self.messages) < 20:
                self.messages.append(f"{kind}: {text}")

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


class VerifyError(Exception):
    """The volume answered, but not what the model says it must."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind


@dataclass
class Entry:
    size: int
    digest: bytes
    seed: int


MAX_SIZE = 2 * MiB + 60 * KiB


def file_size(rng: random.Random) -> int:
    """Sizes: 60 % under 8 KiB, 20 % 8..60 KiB, 15 % 64..384 KiB in 64 KiB steps, 5 % 1 or
    2 MiB plus 0..60 KiB. Every size a READ or WRITE record of 64 KiB or more can have comes
    from a small set (whole 64 KiB steps, 1 MiB pieces) while the odd tails stay in records
    under 64 KiB: the transport recycles large record bodies by exact size (a pool of at most
    64 MiB), and with a small set of sizes that pool reaches its steady state in seconds
    instead of filling with one-off sizes for minutes, which would look like RSS growth."""
    r = rng.random()
    if r < 0.6:
        return rng.randrange(0, 8 * KiB)
    if r < 0.8:
        return rng.randrange(8 * KiB, 60 * KiB)
    if r < 0.95:
        return 64 * KiB * rng.randrange(1, 7)
    return MiB * rng.randrange(1, 3) + rng.randrange(0, 60 * KiB)


def _touched(buf: bytearray, page: int = 4096) -> bytearray:
    """``buf`` with one byte written per page (a fresh buffer's pages are not resident yet)."""
    view = memoryview(buf)[::page]
    view[:] = bytes(len(view))
    return buf


class SoakClient:
    """One connection (a ``Volume``-like object) working in ``directory`` against its model."""

    def __init__(
        self, vol: Any, directory: str, stats: SoakStats, *, seed: int, max_files: int = 24
    ) -> None:
        self.vol, self.dir, self.stats = vol, directory, stats
        self.rng = random.Random(seed)
        self.model: dict[str, Entry] = {}
        self.max_files = max_files
        self.seq = 0
        self.last_created = ""
        self.block = random.Random(seed).randbytes(MAX_SIZE + 64 * KiB)
        self.wbuf = _touched(bytearray(MAX_SIZE))  # resident from the start, so that
        self.rbuf = _touched(bytearray(MAX_SIZE + 1))  # RSS does not creep as sizes vary

    def path(self, name: str) -> str:
        return posixpath.join(self.dir, name)

    def _name(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq:07d}"

    def step(self) -> None:
        """One operation chosen by the mix; failures are counted, never raised."""
        if not self.model:
            op = "create"
        elif len(self.model) >= self.max_files:
            op = "unlink"
        else:
            ops, weights = zip(*MIX, strict=True)
            op = self.rng.choices(ops, weights)[0]
        self.run(op)

    def run(self, op: str, **kw: Any) -> None:
        t = time.perf_counter()
        try:
            written, verified = getattr(self, f"do_{op}")(**kw)
        except VerifyError as exc:
            self.stats.fail(exc.kind, f"{op} in {self.dir}: {exc}")
        except (OSError, ValueError) as exc:  # OSError covers every GfrpcError
            self.stats.fail("error", f"{op} in {self.dir}: {type(exc).__name__}: {exc}")
        else:
            self.stats.done(op, time.perf_counter() - t, written, verified)

    # -- operations: each returns (bytes written, bytes verified) --------------------------------
    def do_create(self, size: int | None = None) -> tuple[int, int]:
        name = self._name("f")
        seed = self.rng.getrandbits(63)
        data = self.build(name, seed, file_size(self.rng) if size is None else size)
        fsync = self.rng.random() < 0.25
        f = self.vol.open(self.path(name), "xb", buffering=0)
        try:
            try:
                view, done = memoryview(data), 0
                while done < len(data):
                    n = f.write(view[done:])
                    if not n:
                        raise VerifyError("verify", f"write of {name} made no progress at {done}")
                    done += n
                if fsync:
                    t = time.perf_counter()
                    f.fsync()
                    self.stats.done("fsync", time.perf_counter() - t)
            finally:
                f.close()
        except BaseException:
            # not acknowledged, so not in the model: remove it so that listings stay exact
            with contextlib.suppress(OSError):
                self.vol.unlink(self.path(name))
            raise
        self.model[name] = Entry(len(data), hashlib.sha256(data).digest(), seed)
        self.last_created = name
        return len(data), 0

    def build(self, name: str, seed: int, size: int) -> memoryview:
        """The content of file ``name``: header, then a seed-chosen slice of the block."""
        head = f"{self.dir}/{name} {seed:x}\n".encode()[:size]
        off = seed % (len(self.block) - size + 1)
        self.wbuf[: len(head)] = head
        self.wbuf[len(head) : size] = self.block[off : off + size - len(head)]
        return memoryview(self.wbuf)[:size]

    def _pick(self) -> str:
        return self.rng.choice(sorted(self.model))

    def check_file(self, name: str) -> int:
        """Read ``name`` back whole and compare with the model; bytes verified."""
        e = self.model[name]
        try:
            f = self.vol.open(self.path(name), "rb", buffering=0)
        except FileNotFoundError as exc:
            raise VerifyError("lost", f"{name} ({e.size} bytes, acknowledged) is gone") from exc
        view = memoryview(self.rbuf)[: e.size + 1]  # one byte more: a longer file shows
        got = 0
        try:
            while got < len(view):
                n = f.readinto(view[got:])
                if not n:
                    break
                got += n
        finally:
            f.close()
        if got != e.size:
            raise VerifyError("verify", f"{name}: read {got} bytes, expected {e.size}")
        if hashlib.sha256(view[:got]).digest() != e.digest:
            raise VerifyError("verify", f"{name}: {got} bytes as expected, other content")
        return got

    def do_read(self, name: str | None = None) -> tuple[int, int]:
        return 0, self.check_file(name or self._pick())

    def warm_up(self, barrier: threading.Barrier, rounds: int = 3) -> None:
        """Together with the other clients (``barrier``), write and read back files of the
        largest size ``rounds`` times, so that the buffers and allocator arenas of both
        processes reach the size the run needs at once rather than whenever the mix happens
        to line up large transfers (which, on a busy machine, can be well into the run)."""
        for _ in range(rounds):
            try:
                barrier.wait(timeout=120)
                self.run("create", size=MAX_SIZE - 1)
                barrier.wait(timeout=120)
                if self.last_created in self.model:
                    self.run("read", name=self.last_created)
            except threading.BrokenBarrierError:
                return

    def do_stat(self) -> tuple[int, int]:
        name = self._pick()
        try:
            st = self.vol.stat(self.path(name))
        except FileNotFoundError as exc:
            raise VerifyError("lost", f"stat {name}: gone") from exc
        if st.st_size != self.model[name].size or not stat.S_ISREG(st.st_mode):
            raise VerifyError(
                "verify",
                f"stat {name}: size {st.st_size} mode {st.st_mode:o}, "
                f"expected a file of {self.model[name].size}",
            )
        return 0, 0

    def do_rename(self) -> tuple[int, int]:
        old, new = self._pick(), self._name("r")
        self.vol.rename(self.path(old), self.path(new))
        self.model[new] = self.model.pop(old)
        if self.vol.exists(self.path(old)):
            raise VerifyError("verify", f"rename {old} -> {new}: {old} still exists")
        return 0, 0

    def do_unlink(self) -> tuple[int, int]:
        name = self._pick()
        self.vol.unlink(self.path(name))
        del self.model[name]
        if self.vol.exists(self.path(name)):
            raise VerifyError("verify", f"unlink {name}: still exists")
        return 0, 0

    def do_readdir(self) -> tuple[int, int]:
        listed = set(self.vol.listdir(self.dir))
        self.compare_listing(listed)
        return 0, 0

    def compare_listing(self, listed: set[str]) -> None:
        expected = set(self.model)
        missing, extra = sorted(expected - listed), sorted(listed - expected)
        if missing:
            raise VerifyError(
                "lost",
                f"listing of {self.dir} lacks {len(missing)} "
                f"acknowledged files, e.g. {missing[:3]}",
            )
        if extra:
            raise VerifyError(
                "verify",
                f"listing of {self.dir} has {len(extra)} unexpected names, e.g. {extra[:3]}",
            )

    # -- end of run --------------------------------------------------------------------------
    def verify_all(self) -> None:
        """Every file in the model reads back; the listing is exactly the model."""
        self.run("readdir")
        for name in sorted(self.model):
            t = time.perf_counter()
            try:
                n = self.check_file(name)
            except VerifyError as exc:
                self.stats.fail(exc.kind, f"final check in {self.dir}: {exc}")
            except OSError as exc:
                self.stats.fail("error", f"final check of {self.path(name)}: {exc}")
            else:
                self.stats.done("final-read", time.perf_counter() - t, 0, n)

    def remove_all(self) -> None:
        """Unlink every file and the directory (errors counted)."""
        for name in sorted(self.model):
            try:
                self.vol.unlink(self.path(name))
            except OSError as exc:
                self.stats.fail("error", f"cleanup of {self.path(name)}: {exc}")
        self.model.clear()
        try:
            self.vol.rmdir(self.dir)
        except OSError as exc:
            self.stats.fail("error", f"cleanup of {self.dir}: {exc}")


class Gate:
    """Parks worker threads between operations while the sampler looks (see module essay)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._parked = 0
        self._workers = 0

    def enter(self) -> None:
        with self._cond:
            self._workers += 1

    def leave(self) -> None:
        with self._cond:
            self._workers -= 1
            self._cond.notify_all()

    def checkpoint(self) -> None:
        with self._cond:
            if not self._paused:
                return
            self._parked += 1
            self._cond.notify_all()
            while self._paused:
                self._cond.wait()
            self._parked -= 1

    def pause(self, timeout: float) -> bool:
        """Stop workers at their next checkpoint; True if all parked within ``timeout``."""
        with self._cond:
            self._paused = True
            return self._cond.wait_for(lambda: self._parked >= self._workers, timeout)

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()


def worker_loop(
    client: SoakClient, gate: Gate, stop: threading.Event, on_exit: Callable[[], None] | None = None
) -> None:
    """Step ``client`` until ``stop`` is set, passing the gate between steps."""
    gate.enter()
    try:
        while not stop.is_set():
            gate.checkpoint()
            if stop.is_set():
                break
            client.step()
    finally:
        gate.leave()
        if on_exit is not None:
            on_exit()

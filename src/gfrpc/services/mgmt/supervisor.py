"""Brick processes: started, watched, stopped and adopted by the management daemon.

Theory of operation. ``volume start`` makes one ``gfrpc brick`` process per brick of this host,
as glusterd makes one glusterfsd: a free port from 49152 up (ports bound on this host, seen in
``/proc/net/tcp*``, and ports in the port table are skipped; a brick that still loses the race
for its port is started again on the next one), the volume's options as flags
(``brick_args.py``) and ``--mgmt`` so that it signs in. Each process is its own session, writes
its output to ``DIR/logs/bricks/<path>.log`` and is named by the pid file
``DIR/vols/<vol>/run/<host>-<path>.pid`` (glusterd's names: ``/srv/b1`` is ``srv-b1``). The
start returns once every new brick has signed in with its own pid.

Watching needs no polling: each brick process is watched through a *pidfd*
(``os.pidfd_open``), which becomes readable when the process exits, on one poller thread
shared by all bricks. A child is reaped there; a brick adopted from an earlier daemon is not
our child, and its pidfd tells us all the same. An exit drops the brick's port-table entry
(the kernel closing its sign-in connection does too), so it is offline at once. Signals are
sent through the pidfd as well, so a pid reused by another process is never signalled.

``volume stop`` sends SIGTERM, waits for the brick to sign out and exit (table events, no
sleeps) and sends SIGKILL after ``stop_timeout``. At daemon start :meth:`BrickSupervisor.adopt`
reads the pid files: a live ``gfrpc brick`` for that path (``/proc/PID/cmdline``) is adopted and
watched, never started twice; a stale pid file is removed. Bricks outlive the daemon, as
glusterfsd outlives glusterd: :meth:`BrickSupervisor.close` stops watching, not the bricks.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gfrpc.services.brick.server import VOLUME_ID_XATTR
from gfrpc.services.mgmt.brick_args import brick_argv, brick_cmdline, flag_value, is_brick_process
from gfrpc.services.mgmt.registry import Registry
from gfrpc.services.mgmt.state import Brick, Volume, VolumeStateError
from gfrpc.transport import Poller, make_poller

__all__ = [
    "BASE_PORT",
    "BrickState",
    "BrickSupervisor",
    "brick_log_file",
    "brick_pid_file",
    "path_name",
]

log = logging.getLogger("gfrpc.mgmtd")

BASE_PORT: Final = 49152  # glusterd's base-port
MAX_PORT: Final = 60999  # glusterd's max-port
START_TIMEOUT: Final = 30.0
_LAUNCH_MARK: Final = "gfrpc mgmtd: starting"  # the line written to a brick log before a start
SETTLE: Final = 2.0  # how long a start waits for a running brick to sign in or exit
PORT_ATTEMPTS: Final = 5  # a brick that loses its port to another process tries the next one


def path_name(path: str) -> str:
    """A brick path as glusterd names its files: ``/srv/b1`` -> ``srv-b1``."""
    return os.path.normpath(path)[1:].replace("/", "-")


def brick_log_file(workdir: Path, path: str) -> Path:
    """``DIR/logs/bricks/<path>.log`` (glusterd: ``/var/log/glusterfs/bricks/srv-b1.log``)."""
    return workdir / "logs" / "bricks" / f"{path_name(path)}.log"


def brick_pid_file(workdir: Path, volume: str, host: str, path: str) -> Path:
    """``DIR/vols/<vol>/run/<host>-<path>.pid`` (glusterd's GLUSTERD_GET_BRICK_PIDFILE)."""
    return workdir / "vols" / volume / "run" / f"{host}-{path_name(path)}.pid"


@dataclass(frozen=True)
class BrickState:
    """One brick as ``volume status`` shows it."""

    host: str
    path: str
    port: int | None  # None when not online
    pid: int | None
    online: bool


@dataclass(eq=False)
class _Process:
    """One brick process we started or adopted, and its pidfd (closed only by its watch)."""

    volume: str
    path: str
    pid: int
    port: int
    pid_file: Path
    log_file: Path
    popen: subprocess.Popen[bytes] | None
    pidfd: int | None
    alive: bool = True
    status: int | None = None  # exit status (children only)
    stopping: bool = False  # we asked it to stop
    lock: threading.Lock = field(default_factory=threading.Lock)

    def running(self) -> bool:
        """True while the process runs (asked of the kernel: the watcher may not have seen
        its exit yet)."""
        with self.lock:
            if self.pidfd is None or not self.alive:
                return False
            try:
                if self.popen is not None:  # a child: exited but not reaped counts as gone
                    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
                    return os.waitid(os.P_PIDFD, self.pidfd, flags) is None
                signal.pidfd_send_signal(self.pidfd, 0)
            except (ChildProcessError, ProcessLookupError):
                return False
            return True

    def send(self, sig: int) -> bool:
        """Signal the process through its pidfd; False once it has exited."""
        with self.lock:
            if self.pidfd is None or not self.alive:
                return False
            try:
                signal.pidfd_send_signal(self.pidfd, sig)
            except ProcessLookupError:
                return False
            return True


class _PidWatch:
    """A pollable that calls ``on_exit`` once when its process's pidfd turns readable."""

    def __init__(self, proc: _Process, poller: Poller, on_exit: Callable[[_Process], None]):
        assert proc.pidfd is not None
        self.proc, self.poller, self.on_exit = proc, poller, on_exit
        self._fd = proc.pidfd
        self._aborted = False

    def fileno(self) -> int:
        return self._fd

    def interest(self) -> tuple[bool, bool]:
        return (True, False)

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        if readable or error:
            self.on_exit(self.proc)
            return False
        return not self._aborted

    def finalize(self) -> None:
        with self.proc.lock:
            self.proc.pidfd = None
            os.close(self._fd)

    def abort(self, reason: Exception) -> None:
        self._aborted = True
        self.poller.kick(self)


def _bound_ports() -> set[int]:
    """Local ports of every TCP socket of this network namespace (any state)."""
    ports: set[int] = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name) as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) > 1:
                    ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def _last_line(log_file: Path) -> str:
    try:
        with open(log_file, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    return next((ln for ln in reversed(lines) if ln), "")


class BrickSupervisor:
    """Starts, watches, stops and adopts the ``gfrpc brick`` processes of this host."""

    def __init__(
        self,
        workdir: Path,
        registry: Registry,
        *,
        mgmt_address: str,
        hostnames: Sequence[str],
        brick_command: Sequence[str] | None = None,
        stop_timeout: float = 10.0,
        tls_dir: str | Path | None = None,
        mgmt_tls: bool = False,
        brick_host: str | None = None,
        start_timeout: float = START_TIMEOUT,
        base_port: int = BASE_PORT,
        poller: Poller | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.registry = registry
        self.mgmt_address = mgmt_address
        self.hostnames = frozenset(h.strip("[]").lower() for h in hostnames)
        self.brick_command = list(brick_command or [sys.executable, "-m", "gfrpc.cli", "brick"])
        self.stop_timeout = stop_timeout
        self.tls_dir = tls_dir
        self.mgmt_tls = mgmt_tls  # the daemon's port is TLS: bricks sign in over TLS
        self.brick_host = brick_host  # the address bricks listen on (None: all)
        self.start_timeout = start_timeout
        self.base_port = base_port
        self._own_poller = poller is None
        self.poller = poller if poller is not None else make_poller("single")
        self.poller.start()
        self._lock = threading.Lock()  # the process table
        self._ops = threading.Lock()  # one start/stop/adopt at a time (port choice)
        self._procs: dict[str, _Process] = {}
        self._watches: set[_PidWatch] = set()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise VolumeStateError("the brick supervisor is closed")

    def is_here(self, host: str) -> bool:
        """True when ``host`` names this host (one of ``hostnames``)."""
        return host.strip("[]").lower() in self.hostnames

    # -- start -----------------------------------------------------------------------------
    def start_volume(self, volume: Volume, *, force: bool = False) -> None:
        """Start the bricks of ``volume`` on this host that are not running; returns when each
        has signed in. ``force`` also creates a missing brick directory (glusterd skips its
        check). Raises :class:`VolumeStateError` for a brick that does not come up."""
        with self._ops:
            self._check_open()
            wanted = [
                b for b in volume.bricks if self.is_here(b.host) and not self._running(b.path)
            ]
            for brick in wanted:  # every check before the first process is started
                self._check_brick_dir(volume, brick, force=force)
            started, failures = [], []
            for brick in wanted:
                try:
                    started.append((brick, self._spawn(volume, brick)))
                except (OSError, VolumeStateError) as e:
                    failures.append(f"brick {brick.host}:{brick.path} not started: {e}")
            for brick, proc in started:
                problem = self._await_signin(volume, brick, proc)
                if problem:
                    failures.append(problem)
        if failures:
            raise VolumeStateError("; ".join(failures))

    def _running(self, path: str) -> bool:
        """True when our process for ``path`` runs. One that runs but is not signed in is
        given :data:`SETTLE` seconds to sign in or exit (a brick killed a moment ago has
        closed its connection before the kernel reports its exit)."""
        with self._lock:
            proc = self._procs.get(os.path.normpath(path))
        if proc is None or not proc.running():
            return False
        if not self._signed_in(proc):
            self.registry.wait_until(functools.partial(self._settled, proc), SETTLE)
        return proc.running()

    def _check_brick_dir(self, volume: Volume, brick: Brick, *, force: bool) -> None:
        """glusterd's checks before a start (glusterd-volume-ops.c, stage start volume)."""
        if not os.path.isdir(brick.path):
            if not force:
                raise VolumeStateError(
                    f"Failed to find brick directory {brick.path} for volume {volume.name}. "
                    f"Reason : {os.strerror(2)}"
                )
            os.makedirs(brick.path, exist_ok=True)
        try:
            raw = os.getxattr(brick.path, VOLUME_ID_XATTR)
        except OSError:
            return  # none yet: the brick stores the volume's id on its first start
        found = uuid.UUID(bytes=raw) if len(raw) == 16 else None
        if found != volume.volume_id:
            raise VolumeStateError(
                f"Volume id mismatch for brick {brick.host}:{brick.path}. Expected volume id "
                f"{volume.volume_id}, volume id {found} found"
            )

    def _free_port(self, skip: set[int]) -> int:
        taken = _bound_ports() | self.registry.ports_in_use() | skip
        with self._lock:
            taken |= {p.port for p in self._procs.values() if p.alive}
        for port in range(self.base_port, MAX_PORT + 1):
            if port not in taken:
                return port
        raise VolumeStateError(f"no free port left between {self.base_port} and {MAX_PORT}")

    def _spawn(self, volume: Volume, brick: Brick, skip: set[int] | None = None) -> _Process:
        path = os.path.normpath(brick.path)
        port = self._free_port(skip or set())
        log_file = brick_log_file(self.workdir, path)
        pid_file = brick_pid_file(self.workdir, volume.name, brick.host, path)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        argv = self.brick_command + brick_argv(
            volume,
            brick,
            port=port,
            mgmt_address=self.mgmt_address,
            tls_dir=self.tls_dir,
            host=self.brick_host,
            mgmt_tls=self.mgmt_tls,
        )
        with open(log_file, "ab") as out:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            out.write(f"{stamp} {_LAUNCH_MARK} {' '.join(argv)}\n".encode())
            out.flush()
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.registry.expect(path, popen.pid)
        proc = _Process(
            volume.name, path, popen.pid, port, pid_file, log_file, popen, os.pidfd_open(popen.pid)
        )
        _write_pid_file(pid_file, popen.pid)
        self._watch(proc)
        log.info("started brick %s:%s, pid %d, port %d", brick.host, path, popen.pid, port)
        return proc

    def _await_signin(self, volume: Volume, brick: Brick, proc: _Process) -> str | None:
        """Wait until ``proc`` signed in (restarting it on another port if it lost its port);
        the failure's text, or None."""
        tried = {proc.port}
        for _ in range(PORT_ATTEMPTS):
            self.registry.wait_until(functools.partial(self._settled, proc), self.start_timeout)
            if self._signed_in(proc):
                return None
            last = _last_line(proc.log_file)
            if proc.alive:  # never signed in: do not leave it half started
                proc.send(signal.SIGKILL)
                self.registry.wait_until(functools.partial(_dead, proc), 5.0)
                return (
                    f"brick {brick.host}:{brick.path} did not sign in within "
                    f"{self.start_timeout:g} s (log {proc.log_file}: {last})"
                )
            if "in use" not in last:
                if _LAUNCH_MARK in last:
                    last = "no output"
                return (
                    f"brick {brick.host}:{brick.path} failed to start (exit status "
                    f"{proc.status}): {last or 'no output'}"
                )
            proc = self._spawn(volume, brick, skip=tried)
            tried.add(proc.port)
        return f"brick {brick.host}:{brick.path} found no free port"

    def _settled(self, proc: _Process) -> bool:
        return not proc.alive or self._signed_in(proc)

    def _signed_out(self, proc: _Process) -> bool:
        return not self._signed_in(proc)

    def _signed_in(self, proc: _Process) -> bool:
        entry = self.registry.entry(proc.path)
        return proc.alive and entry is not None and entry.pid == proc.pid

    # -- watching --------------------------------------------------------------------------
    def _watch(self, proc: _Process) -> None:
        watch = _PidWatch(proc, self.poller, self._exited)
        with self._lock:
            self._procs[proc.path] = proc
            self._watches.add(watch)
        self.poller.register(watch)

    def _exited(self, proc: _Process) -> None:
        """On the poller thread, once, when the process has exited."""
        with self._lock:
            self._watches = {w for w in self._watches if w.proc is not proc}
        if proc.popen is not None:
            proc.status = proc.popen.poll()  # reaps the child
        proc.alive = False
        self.registry.forget(proc.path, proc.pid)  # also wakes every waiter
        with contextlib.suppress(OSError):
            if _read_pid_file(proc.pid_file) == proc.pid:
                proc.pid_file.unlink()
        log.log(
            logging.INFO if proc.stopping else logging.WARNING,
            "brick %s (pid %d) exited%s; it is offline",
            proc.path,
            proc.pid,
            f" with status {proc.status}" if proc.status is not None else "",
        )

    # -- status ----------------------------------------------------------------------------
    def status(self, volume: Volume) -> list[BrickState]:
        """Each brick of ``volume`` in its order: online when its process runs and is signed
        in (a brick of another host, or one not signed in, is offline here)."""
        out = []
        for b in volume.bricks:
            if not self.is_here(b.host):
                out.append(BrickState(b.host, b.path, None, None, False))
                continue
            path = os.path.normpath(b.path)
            with self._lock:
                proc = self._procs.get(path)
            entry = self.registry.entry(path)
            if proc is not None:
                online = self._signed_in(proc)
                pid = proc.pid if proc.alive else None
            else:  # started by hand: the port table is all we know
                online = entry is not None
                pid = entry.pid or None if entry is not None else None
            port = entry.port if online and entry is not None else None
            out.append(BrickState(b.host, b.path, port, pid, online))
        return out

    # -- stop ------------------------------------------------------------------------------
    def stop_volume(self, volume: Volume, *, force: bool = False) -> None:
        """Stop the bricks of ``volume`` on this host: SIGTERM, wait for the sign-out and the
        exit, SIGKILL after ``stop_timeout``; pid files removed. Without ``force`` a brick that
        does not die is a :class:`VolumeStateError`."""
        with self._ops:
            self._check_open()
            paths = [os.path.normpath(b.path) for b in volume.bricks if self.is_here(b.host)]
            with self._lock:
                procs = [p for p in (self._procs.get(x) for x in paths) if p is not None]
            for p in procs:
                p.stopping = True
                if p.send(signal.SIGTERM):
                    log.info("stopping brick %s (pid %d)", p.path, p.pid)
            deadline = time.monotonic() + self.stop_timeout
            for p in procs:  # a brick signs out, then exits
                for stage in (functools.partial(self._signed_out, p), functools.partial(_dead, p)):
                    self.registry.wait_until(stage, max(0.0, deadline - time.monotonic()))
            stubborn = []
            for p in procs:
                if p.send(signal.SIGKILL):
                    log.warning("brick %s (pid %d) ignored SIGTERM: SIGKILL", p.path, p.pid)
                if not self.registry.wait_until(functools.partial(_dead, p), 5.0):
                    stubborn.append(p)
            for b in volume.bricks:
                if self.is_here(b.host):
                    path = os.path.normpath(b.path)
                    self.registry.expect(path, None)
                    with contextlib.suppress(OSError):
                        brick_pid_file(self.workdir, volume.name, b.host, path).unlink()
            with self._lock:
                for p in procs:
                    if self._procs.get(p.path) is p and not p.alive:
                        del self._procs[p.path]
        if stubborn and not force:
            raise VolumeStateError(
                "brick process(es) did not exit: "
                + ", ".join(f"{p.path} (pid {p.pid})" for p in stubborn)
            )

    # -- adopt -----------------------------------------------------------------------------
    def adopt(self, volumes: Sequence[Volume]) -> None:
        """At daemon start: watch the bricks that still run (by their pid files), so that they
        are not started twice; remove stale pid files."""
        with self._ops:
            self._check_open()
            for volume in volumes:
                for b in volume.bricks:
                    if self.is_here(b.host) and not self._running(b.path):
                        self._adopt_one(volume, b)

    def _adopt_one(self, volume: Volume, b: Brick) -> None:
        path = os.path.normpath(b.path)
        pid_file = brick_pid_file(self.workdir, volume.name, b.host, path)
        pid = _read_pid_file(pid_file)
        if pid is None:
            if pid_file.exists():
                log.info("removing unreadable pid file %s", pid_file)
                pid_file.unlink(missing_ok=True)
            return
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
        # checked after pidfd_open: the pidfd pins the process the command line belongs to
        if pidfd is None or not is_brick_process(pid, path):
            if pidfd is not None:
                os.close(pidfd)
            log.info(
                "removing stale pid file %s (pid %d is not a brick of %s)", pid_file, pid, path
            )
            pid_file.unlink(missing_ok=True)
            return
        entry = self.registry.entry(path)
        port_text = flag_value(brick_cmdline(pid), "--port")
        port = entry.port if entry is not None and entry.pid == pid else int(port_text or 0)
        self.registry.expect(path, pid)
        proc = _Process(
            volume.name, path, pid, port, pid_file, brick_log_file(self.workdir, path), None, pidfd
        )
        self._watch(proc)
        log.info("adopted brick %s:%s, pid %d, port %d", b.host, path, pid, port)

    def close(self) -> None:
        """Stop watching (the bricks keep running, as glusterfsd outlives glusterd)."""
        with self._ops, self._lock:
            self._closed = True
            watches, self._watches = self._watches, set()
            self._procs.clear()  # no longer watched: a later daemon adopts them
        for w in watches:
            w.abort(RuntimeError("supervisor closed"))
        if self._own_poller:
            self.poller.stop()

    def __enter__(self) -> BrickSupervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dead(proc: _Process) -> bool:
    return not proc.alive


def _write_pid_file(pid_file: Path, pid: int) -> None:
    tmp = pid_file.with_name(pid_file.name + ".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pid_file)


def _read_pid_file(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None

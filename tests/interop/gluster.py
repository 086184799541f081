"""Harness that starts a real GlusterFS 10 (glusterd + glusterfsd bricks) for interop tests.

Everything the harness creates lives under one private temporary directory (``root``):
glusterd's working directory (instead of /var/lib/glusterd), its run directory (pid files),
its CLI unix socket, its log, the brick directories, the TLS files and FUSE mount points.
See docs/INTEROP.md for what cannot be isolated (a few hard-coded paths under /var).

The module is imported by ``tests/interop/conftest.py`` (which puts this directory on
``sys.path``); tests normally use the fixtures and only import helpers such as ``rpc_call``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GLUSTERD_PORT = 24007
GLUSTERD_ADDRESS = ("127.0.0.1", GLUSTERD_PORT)
BRICK_PORT_RANGE = (49152, 60999)
LOG_DIR = Path("/var/log/glusterfs")
SYSTEM_WORKDIR = Path("/var/lib/glusterd")
SYSTEM_RUNDIR = Path("/var/run/gluster")
TMP_PREFIX = "gfrpc-interop-"
VOLUME_LOG_SUBDIRS = ("gfproxy", "snaps")

CLI_TIMEOUT = 60.0  # `volume start/stop` can take a few seconds on a busy machine
START_TIMEOUT = 30.0
STOP_GRACE = 10.0

# RPC numbers used by the harness's own tiny probe client (reference §5.1).
GF_DUMP_PROGRAM, GF_DUMP_VERSION, GF_DUMP_DUMP = 123451501, 1, 1
PMAP_PROGRAM, PMAP_VERSION, PMAP_PORTBYBRICK = 34123456, 1, 1


class GlusterError(RuntimeError):
    """Something the real GlusterFS did not do; the message carries the relevant log tails."""


# --------------------------------------------------------------------------------------------
# "In CI a missing peer is a failure, not a skip"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def need(condition: object, reason: str) -> None:
    """Stop the test unless ``condition`` holds: ``pytest.fail`` when CI is set, else skip."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"interop prerequisite missing (CI=true, so this is a failure): {reason}",
                    pytrace=False)
    pytest.skip(f"interop prerequisite missing: {reason}")


# --------------------------------------------------------------------------------------------
# small process / file helpers


def run(argv: Sequence[str], *, timeout: float = CLI_TIMEOUT, check: bool = False,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """subprocess.run with a timeout always set and text output captured."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check, input=input)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def stop_pid(pid: int, *, popen: subprocess.Popen[bytes] | None = None,
             grace: float = STOP_GRACE) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Only ever called on our own pids."""
    if popen is not None and popen.poll() is not None:
        return
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
    else:
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def read_pidfile(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def listener_pids(port: int) -> list[tuple[int, str]]:
    """(pid, command) of processes listening on TCP ``port`` (via ``ss``; [] if unknown)."""
    if not shutil.which("ss"):
        return []
    try:
        out = run(["ss", "-Hltnp", f"sport = :{port}"], timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for part in out.split("pid=")[1:]:
        digits = part.split(",", 1)[0]
        if digits.isdigit():
            found.append((int(digits), " ".join(cmdline(int(digits)))[:200]))
    return found


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, errors="replace") as f:
            data = f.readlines()
    except OSError as e:
        return f"(cannot read: {e.strerror})"
    return "".join(data[-lines:])


def collect_logs(paths: Sequence[Path], lines: int = 40) -> str:
    """Tails of the given GlusterFS logs, formatted for a failure message."""
    parts = []
    for p in paths:
        parts.append(f"----- {p} (last {lines} lines) -----\n{tail(p, lines).rstrip()}")
    return "\n".join(parts)


def brick_log_path(brick_path: str | Path) -> Path:
    """Where glusterd tells a brick to log: /var/log/glusterfs/bricks/<path, '/' -> '-'>.log."""
    return LOG_DIR / "bricks" / (str(brick_path).strip("/").replace("/", "-") + ".log")


def fuse_log_path(mountpoint: str | Path) -> Path:
    """Default log of a FUSE client (we always pass -l explicitly, this is for reference)."""
    return LOG_DIR / (str(mountpoint).strip("/").replace("/", "-") + ".log")


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/mounts), deepest first."""
    found = []
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 2:
                    continue
                mnt = fields[1].replace("\\040", " ")
                if mnt == str(root) or mnt.startswith(str(root) + "/"):
                    found.append(mnt)
    except OSError:
        pass
    return sorted(found, key=len, reverse=True)


def is_mounted(mountpoint: Path, fstype: str | None = None) -> bool:
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3 and fields[1] == str(mountpoint):
                return fstype is None or fields[2] == fstype
    return False


def unmount(mountpoint: Path | str) -> None:
    """umount, falling back to a lazy umount."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if run(["umount", str(mountpoint)], timeout=15).returncode == 0:
            return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        run(["umount", "-l", str(mountpoint)], timeout=15)


# --------------------------------------------------------------------------------------------
# a tiny, self-contained ONC RPC probe (independent of gfrpc, so it can check gfrpc too)


def _xdr_string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def rpc_call(address: tuple[str, int], prog: int, vers: int, proc: int, args: bytes = b"", *,
             ssl_context: ssl.SSLContext | None = None, timeout: float = 10.0,
             xid: int = 1) -> bytes:
    """One RPC call (AUTH_NULL) on a fresh connection; returns the accepted reply's results.

    Raises ``GlusterError`` for a denied/unsuccessful reply and ``OSError``/``EOFError`` when
    the peer closes or resets the connection.
    """
    msg = struct.pack(">IIIIII", xid, 0, 2, prog, vers, proc) + struct.pack(">IIII", 0, 0, 0, 0)
    msg += args
    with socket.create_connection(address, timeout=timeout) as raw:
        sock: socket.socket = raw
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(raw)
        try:
            sock.sendall(struct.pack(">I", len(msg) | 0x80000000) + msg)
            record = _recv_record(sock)
        finally:
            if sock is not raw:
                with contextlib.suppress(OSError):
                    sock.close()
    rxid, mtype, reply_stat = struct.unpack_from(">III", record)
    if rxid != xid or mtype != 1:
        raise GlusterError(f"unexpected reply header xid={rxid} type={mtype}")
    if reply_stat != 0:
        raise GlusterError(f"RPC denied (reply_stat={reply_stat})")
    _flavor, vlen = struct.unpack_from(">II", record, 12)
    off = 20 + vlen + (-vlen % 4)
    (accept_stat,) = struct.unpack_from(">I", record, off)
    if accept_stat != 0:
        raise GlusterError(f"RPC not accepted (accept_stat={accept_stat})")
    return record[off + 4:]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def _recv_record(sock: socket.socket) -> bytes:
    out = bytearray()
    while True:
        (mark,) = struct.unpack(">I", _recv_exact(sock, 4))
        out += _recv_exact(sock, mark & 0x7FFFFFFF)
        if mark & 0x80000000:
            return bytes(out)


def gf_dump(address: tuple[str, int], *, ssl_context: ssl.SSLContext | None = None,
            timeout: float = 10.0) -> list[tuple[str, int, int]]:
    """GF-DUMP DUMP: the (name, program, version) list a glusterd or brick advertises."""
    body = rpc_call(address, GF_DUMP_PROGRAM, GF_DUMP_VERSION, GF_DUMP_DUMP,
                    struct.pack(">Q", 0), ssl_context=ssl_context, timeout=timeout)
    _gfs_id, op_ret, op_errno, more = struct.unpack_from(">QiiI", body)
    if op_ret != 0:
        raise GlusterError(f"DUMP failed: op_ret={op_ret} op_errno={op_errno}")
    off, progs = 20, []
    while more:
        (n,) = struct.unpack_from(">I", body, off)
        name = body[off + 4:off + 4 + n].decode()
        off += 4 + n + (-n % 4)
        prog, ver, more = struct.unpack_from(">QQI", body, off)
        off += 20
        progs.append((name, prog, ver))
    return progs


def pmap_port_by_brick(brick_path: str, address: tuple[str, int] = GLUSTERD_ADDRESS,
                       timeout: float = 10.0) -> int:
    """Ask glusterd's portmapper which port serves ``brick_path`` (-1 if unknown)."""
    body = rpc_call(address, PMAP_PROGRAM, PMAP_VERSION, PMAP_PORTBYBRICK,
                    _xdr_string(brick_path), timeout=timeout)
    op_ret, _op_errno, _status, port = struct.unpack_from(">iiii", body)
    return port if op_ret == 0 else -1


# --------------------------------------------------------------------------------------------
# TLS material


@dataclass(frozen=True)
class TLSFiles:
    """One identity as GlusterFS wants it: a directory with glusterfs.pem/.key/.ca."""

    dir: Path
    cn: str

    @property
    def cert(self) -> Path:
        return self.dir / "glusterfs.pem"

    @property
    def key(self) -> Path:
        return self.dir / "glusterfs.key"

    @property
    def ca(self) -> Path:
        return self.dir / "glusterfs.ca"

    def client_context(self, *, with_cert: bool = True) -> ssl.SSLContext:
        """A Python client context trusting our CA (no host-name check, as GlusterFS)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(cafile=str(self.ca))
        if with_cert:
            ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


@dataclass(frozen=True)
class TLSMaterial:
    """One test CA, a server and a client identity, plus a client signed by another CA."""

    root: Path
    server: TLSFiles
    client: TLSFiles
    untrusted_client: TLSFiles


SERVER_CN = "gfrpc-test-server"
CLIENT_CN = "gfrpc-test-client"


def make_tls_material(root: Path) -> TLSMaterial:
    """Generate EC P-256 certs with trustme into ``root``/{server,client,untrusted-client}."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - depends on the venv
        need(False, "the 'trustme' package is not installed (pip install -e '.[test]')")
        raise

    def write(ca: trustme.CA, name: str, cn: str) -> TLSFiles:
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        leaf = ca.issue_cert(cn, common_name=cn, key_type=trustme.KeyType.ECDSA)
        leaf.cert_chain_pems[0].write_to_path(str(d / "glusterfs.pem"))
        leaf.private_key_pem.write_to_path(str(d / "glusterfs.key"))
        ca.cert_pem.write_to_path(str(d / "glusterfs.ca"))
        os.chmod(d / "glusterfs.key", 0o600)
        return TLSFiles(d, cn)

    ca = trustme.CA(organization_name="gfrpc interop tests", key_type=trustme.KeyType.ECDSA)
    other = trustme.CA(organization_name="gfrpc untrusted CA", key_type=trustme.KeyType.ECDSA)
    return TLSMaterial(root=root,
                       server=write(ca, "server", SERVER_CN),
                       client=write(ca, "client", CLIENT_CN),
                       untrusted_client=write(other, "untrusted-client", "gfrpc-untrusted"))


# --------------------------------------------------------------------------------------------
# glusterd and volumes


@dataclass
class GlusterVolume:
    """A started one-brick volume of the harness's glusterd."""

    name: str
    host: str  # the host name in the brick spec (resolves to loopback)
    brick_path: Path
    port: int  # TCP port of the brick (glusterfsd)
    pid: int  # pid of the brick process
    glusterd_address: tuple[str, int] = GLUSTERD_ADDRESS
    tls: bool = False
    tls_dir: Path | None = None  # client-side glusterfs.pem/.key/.ca (gfrpc --tls-dir)
    server_tls_dir: Path | None = None  # the files the brick uses (ssl.own-cert etc.)
    options: dict[str, str] = field(default_factory=dict)
    brick_socket: str | None = None  # the brick's unix socket (-S), removed at teardown

    @property
    def brick(self) -> str:
        """The brick spec as glusterd knows it: ``host:/path``."""
        return f"{self.host}:{self.brick_path}"

    @property
    def address(self) -> tuple[str, int]:
        """Where a client connects for I/O."""
        return ("127.0.0.1", self.port)

    @property
    def brick_log(self) -> Path:
        return brick_log_path(self.brick_path)

    def client_volfile(self, *, tls_dir: Path | str | None = None, port: int | None = None,
                       host: str = "127.0.0.1", name: str | None = None,
                       extra_options: dict[str, str] | None = None) -> str:
        """A hand-written protocol/client volfile (reference §6.5) aimed at this brick.

        With TLS the client identity defaults to ``self.tls_dir``; pass ``port`` to point the
        same graph at another server (e.g. a gfrpc brick).
        """
        if tls_dir is None and self.tls:
            tls_dir = self.tls_dir
        return client_volfile(remote_port=port or self.port, remote_subvolume=str(self.brick_path),
                              remote_host=host, tls_dir=tls_dir,
                              name=name or f"{self.name}-client-0", extra_options=extra_options)


def client_volfile(*, remote_port: int, remote_subvolume: str, remote_host: str = "127.0.0.1",
                   tls_dir: Path | str | None = None, name: str = "gfrpc-client-0",
                   extra_options: dict[str, str] | None = None) -> str:
    opts = {
        "transport-type": "tcp",
        "transport.address-family": "inet",
        "remote-host": remote_host,
        "remote-port": str(remote_port),
        "remote-subvolume": remote_subvolume,
        "ping-timeout": "42",
    }
    if tls_dir is not None:
        d = Path(tls_dir)
        opts.update({
            "transport.socket.ssl-enabled": "on",
            "transport.socket.ssl-own-cert": str(d / "glusterfs.pem"),
            "transport.socket.ssl-private-key": str(d / "glusterfs.key"),
            "transport.socket.ssl-ca-list": str(d / "glusterfs.ca"),
        })
    opts.update(extra_options or {})
    lines = [f"volume {name}", "    type protocol/client"]
    lines += [f"    option {k} {v}" for k, v in opts.items()]
    lines += ["end-volume", ""]
    return "\n".join(lines)


class GlusterD:
    """A private glusterd (``glusterd -N``) on 127.0.0.1:24007 with its own state directories.

    Use ``GlusterD.start()``; ``stop()`` deletes the volumes it created, stops their bricks,
    stops glusterd by pid and removes the temporary tree. All waits have timeouts.
    """

    def __init__(self, root: Path, host: str) -> None:
        self.root = root
        self.host = host
        self.address = GLUSTERD_ADDRESS
        self.workdir = root / "glusterd"  # replaces /var/lib/glusterd
        self.rundir = root / "run"  # pid files (replaces /var/run/gluster for most files)
        self.sockfile = self.rundir / "glusterd.socket"  # CLI socket
        self.logdir = root / "log"
        self.logfile = self.logdir / "glusterd.log"
        self.cli_logfile = self.logdir / "cli.log"
        self.volfile = root / "glusterd.vol"
        self.pidfile = self.rundir / "glusterd.pid"
        self.bricks_dir = root / "bricks"
        self.mounts_dir = root / "mnt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.volumes: dict[str, GlusterVolume] = {}
        self._created: set[str] = set()  # volumes that exist now and are ours to delete
        self._history: dict[str, Path] = {}  # every volume ever created here -> brick path
        self._brick_sockets: set[str] = set()
        self._fuse_logs: list[Path] = []

    # ---- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def start(cls, host: str | None = None) -> GlusterD:
        check_prerequisites()
        host = host or brick_host()
        root = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
        gd = cls(root, host)
        try:
            gd._start()
        except BaseException:
            gd.stop()
            raise
        return gd

    def _start(self) -> None:
        for d in (self.workdir, self.rundir, self.logdir, self.bricks_dir, self.mounts_dir):
            d.mkdir(parents=True)
        # group option files (`volume set V group X`) come from the working directory
        if (SYSTEM_WORKDIR / "groups").is_dir():
            shutil.copytree(SYSTEM_WORKDIR / "groups", self.workdir / "groups")
        self.volfile.write_text(
            "volume management\n"
            "    type mgmt/glusterd\n"
            f"    option working-directory {self.workdir}\n"
            f"    option run-directory {self.rundir}\n"
            f"    option glusterd-sockfile {self.sockfile}\n"
            "    option transport-type socket\n"
            f"    option transport.socket.listen-port {GLUSTERD_PORT}\n"
            "    option transport.socket.bind-address 127.0.0.1\n"
            "    option transport.socket.keepalive-time 10\n"
            "    option transport.socket.keepalive-interval 2\n"
            "    option transport.socket.read-fail-log off\n"
            "    option ping-timeout 0\n"
            "    option event-threads 1\n"
            f"    option base-port {BRICK_PORT_RANGE[0]}\n"
            f"    option max-port {BRICK_PORT_RANGE[1]}\n"
            "end-volume\n")
        holders = listener_pids(GLUSTERD_PORT)
        if holders or port_open("127.0.0.1", GLUSTERD_PORT, 0.5):
            who = "; ".join(f"pid {p}: {' '.join(c.split())[:160]}" for p, c in holders)
            hint = (" It looks like a leftover of an earlier interop run: stop it by its pid."
                    if TMP_PREFIX in who else "")
            need(False, f"port {GLUSTERD_PORT} is already in use by another process "
                        f"({who or 'owner unknown'}); the interop harness must run its own "
                        f"glusterd there. Stop that glusterd/gfrpc daemon or wait until the port "
                        f"is free.{hint}")
        argv = ["glusterd", "-N", "-f", str(self.volfile), "-l", str(self.logfile),
                "-p", str(self.pidfile), "-L", "INFO"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.root,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                need(False, f"glusterd exited with status {self.proc.returncode} at start-up "
                            f"(port {GLUSTERD_PORT} taken?)\n" + self.logs())
            if self.sockfile.exists() and port_open("127.0.0.1", GLUSTERD_PORT, 0.5):
                pids = [p for p, _ in listener_pids(GLUSTERD_PORT)]
                if pids and self.proc.pid not in pids:
                    need(False, f"port {GLUSTERD_PORT} is served by pid(s) {pids}, not by our "
                                f"glusterd {self.proc.pid}")
                r = self.cli("volume", "list", check=False)
                if r.returncode == 0:
                    return
            if time.monotonic() > deadline:
                need(False, f"glusterd did not come up within {START_TIMEOUT:.0f}s\n"
                     + self.logs())
            time.sleep(0.1)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        """Tear everything down; safe to call twice and after a partial start."""
        errors: list[str] = []
        # FUSE mounts first: nothing below may be removed through a live mount
        for mnt in mounts_under(self.root):
            unmount(mnt)
        if self.proc is not None and self.proc.poll() is None:
            for name in list(self._created):
                try:
                    self.delete_volume(name)
                except Exception as e:  # keep going: the rest must still be cleaned
                    errors.append(f"delete volume {name}: {e}")
        # bricks (and any other daemon glusterd started for us) write pid files in our rundir
        for pidfile in sorted(self.rundir.rglob("*.pid")) if self.rundir.exists() else []:
            pid = read_pidfile(pidfile)
            if pid and pidfile != self.pidfile and self._is_ours(pid):
                stop_pid(pid)
        if self.proc is not None:
            stop_pid(self.proc.pid, popen=self.proc)
        # a last sweep for processes whose command line names our private tree
        for pid in self._our_stray_pids():
            stop_pid(pid)
        for mnt in mounts_under(self.root):
            unmount(mnt)
        for sock in self._brick_sockets:
            with contextlib.suppress(OSError):
                os.unlink(sock)
        for name, brick in self._history.items():
            with contextlib.suppress(OSError):
                brick_log_path(brick).unlink()
            # glusterd makes empty per-volume log dirs at hard-coded places; rmdir only if empty
            for sub in VOLUME_LOG_SUBDIRS:
                with contextlib.suppress(OSError):
                    (LOG_DIR / sub / name).rmdir()
        self.volumes.clear()
        if not mounts_under(self.root):
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            errors.append(f"left {self.root} in place: still mounted {mounts_under(self.root)}")
        if errors:
            raise GlusterError("interop teardown problems: " + "; ".join(errors))

    def _is_ours(self, pid: int) -> bool:
        args = cmdline(pid)
        return bool(args) and any(str(self.root) in a for a in args)

    def _our_stray_pids(self) -> list[int]:
        me = os.getpid()
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != me and pid_alive(int(entry)):
                args = cmdline(int(entry))
                if args and Path(args[0]).name.startswith("gluster") and self._is_ours(int(entry)):
                    found.append(int(entry))
        return found

    # ---- CLI ---------------------------------------------------------------------------------

    def cli(self, *args: str, xml: bool = False, check: bool = True,
            timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``gluster --mode=script ...`` against our glusterd's private socket."""
        argv = ["gluster", f"--glusterd-sock={self.sockfile}", f"--log-file={self.cli_logfile}",
                "--mode=script", *args]
        if xml:
            argv.append("--xml")
        try:
            r = run(argv, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise GlusterError(f"`{' '.join(argv)}` timed out after {timeout:.0f}s\n"
                               + self.logs()) from e
        if check and r.returncode != 0:
            raise GlusterError(f"`{' '.join(argv)}` failed ({r.returncode}): "
                               f"{(r.stdout + r.stderr).strip()}\n" + self.logs())
        return r

    def volume_status(self, name: str) -> list[dict[str, str]]:
        """Bricks of ``name`` from ``volume status --xml``: hostname, path, status, port, pid."""
        r = self.cli("volume", "status", name, xml=True, check=False)
        try:
            tree = ET.fromstring(r.stdout)
        except ET.ParseError as e:
            raise GlusterError(f"unparsable volume status output: {r.stdout!r} {r.stderr!r}") from e
        if (tree.findtext("opRet") or "-1") != "0":
            raise GlusterError(f"volume status {name}: {tree.findtext('opErrstr')}")
        nodes = []
        for node in tree.iter("node"):
            nodes.append({child.tag: (child.text or "").strip() for child in node
                          if child.tag != "ports"}
                         | {"tcp": (node.findtext("ports/tcp") or "").strip()})
        return nodes

    # ---- volumes -----------------------------------------------------------------------------

    def create_volume(self, name: str | None = None, *, tls: TLSMaterial | None = None,
                      options: dict[str, str] | None = None) -> GlusterVolume:
        """Create and start a one-brick volume; returns once the brick serves its port."""
        name = name or f"gfrpc-{uuid.uuid4().hex[:8]}"
        brick = self.bricks_dir / name
        brick.mkdir(parents=True)
        opts: dict[str, str] = {}
        if tls is not None:
            opts |= {"ssl.own-cert": str(tls.server.cert),
                     "ssl.private-key": str(tls.server.key),
                     "ssl.ca-list": str(tls.server.ca),
                     "client.ssl": "on",
                     "server.ssl": "on"}
        opts |= options or {}
        self._history[name] = brick
        self.cli("volume", "create", name, f"{self.host}:{brick}", "force")
        self._created.add(name)
        for k, v in opts.items():
            self.cli("volume", "set", name, k, v)
        r = self.cli("volume", "start", name, check=False)
        need(r.returncode == 0, f"`gluster volume start {name}` failed: "
                                f"{(r.stdout + r.stderr).strip()}\n"
                                + self.logs(brick_log_path(brick)))
        port, pid = self._wait_brick_online(name, brick)
        vol = GlusterVolume(name=name, host=self.host, brick_path=brick, port=port, pid=pid,
                            tls=tls is not None,
                            tls_dir=tls.client.dir if tls else None,
                            server_tls_dir=tls.server.dir if tls else None,
                            options=opts)
        args = cmdline(pid)
        if "-S" in args and args.index("-S") + 1 < len(args):
            vol.brick_socket = args[args.index("-S") + 1]
            self._brick_sockets.add(vol.brick_socket)
        self.volumes[name] = vol
        return vol

    def _wait_brick_online(self, name: str, brick: Path) -> tuple[int, int]:
        deadline = time.monotonic() + START_TIMEOUT
        last: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            last = self.volume_status(name)
            for node in last:
                port = node.get("port") or node.get("tcp") or ""
                if (node.get("path") == str(brick) and node.get("status") == "1"
                        and port.isdigit() and int(port) > 0 and node.get("pid", "").isdigit()):
                    if port_open("127.0.0.1", int(port)):
                        return int(port), int(node["pid"])
            time.sleep(0.2)
        need(False, f"brick {brick} of volume {name} did not come online within "
                    f"{START_TIMEOUT:.0f}s (status: {last})\n" + self.logs(brick_log_path(brick)))
        raise AssertionError("unreachable")

    def delete_volume(self, name: str) -> None:
        """Stop and delete a volume this harness created, and make sure its brick is gone."""
        if name not in self._created:
            raise GlusterError(f"refusing to delete volume {name!r}: not created by this harness")
        vol = self.volumes.get(name)
        self.cli("volume", "stop", name, "force", check=False)
        self.cli("volume", "delete", name)
        self._created.discard(name)
        if vol is not None and self._is_ours(vol.pid):
            stop_pid(vol.pid)

    # ---- diagnostics -------------------------------------------------------------------------

    def logs(self, *extra: Path, lines: int = 40) -> str:
        """Tails of glusterd's, the CLI's, our bricks' and FUSE clients' logs (+ ``extra``)."""
        paths = [self.logfile, self.cli_logfile]
        paths += [v.brick_log for v in self.volumes.values()]
        paths += self._fuse_logs[-2:]
        paths += [p for p in extra if p not in paths]
        return collect_logs([p for p in paths if p.exists()] or paths[:1], lines)

    # ---- FUSE --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def fuse_mount(self, volfile_text: str, *, timeout: float = 20.0,
                   extra_args: Sequence[str] = ()) -> Iterator[Path]:
        """Mount a hand-written volfile with the real FUSE client; yields the mount point."""
        with fuse_mount(volfile_text, workdir=self.mounts_dir, timeout=timeout,
                        extra_args=extra_args, log_sink=self._fuse_logs) as mnt:
            yield mnt


# --------------------------------------------------------------------------------------------
# FUSE client from a hand-written volfile (reference §6.5)


@contextlib.contextmanager
def fuse_mount(volfile_text: str, *, workdir: Path, timeout: float = 20.0,
               extra_args: Sequence[str] = (),
               log_sink: list[Path] | None = None) -> Iterator[Path]:
    """Run ``glusterfs -N --volfile=F --pid-file=P MNT`` and yield MNT once it serves I/O.

    The mount is live when it is listed in /proc/mounts *and* a ``stat`` of its root succeeds
    (the first lookup only succeeds once the client has connected to its brick). At exit: umount
    (lazy umount as fallback), then the client process is stopped by pid.
    """
    need(shutil.which("glusterfs"), "the glusterfs FUSE client binary is not installed")
    need(os.path.exists("/dev/fuse"), "/dev/fuse is missing (no FUSE in this environment)")
    workdir.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="fuse-", dir=workdir))
    volfile, pidfile, logfile, mnt = d / "client.vol", d / "client.pid", d / "client.log", d / "m"
    mnt.mkdir()
    volfile.write_text(volfile_text)
    if log_sink is not None:
        log_sink.append(logfile)
    argv = ["glusterfs", "-N", f"--volfile={volfile}", f"--pid-file={pidfile}",
            f"--log-file={logfile}", *extra_args, str(mnt)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        last_err = "not mounted yet"
        while True:
            if proc.poll() is not None:
                raise GlusterError(f"glusterfs FUSE client exited ({proc.returncode}) before the "
                                   f"mount was live\n" + collect_logs([logfile], 60))
            if is_mounted(mnt, "fuse.glusterfs"):
                try:
                    r = run(["stat", "-c", "%i", str(mnt)], timeout=10)
                    if r.returncode == 0:
                        break
                    last_err = r.stderr.strip()
                except subprocess.TimeoutExpired:
                    last_err = "stat of the mount root timed out"
            if time.monotonic() > deadline:
                raise GlusterError(f"FUSE mount {mnt} not live within {timeout:.0f}s "
                                   f"({last_err})\n" + collect_logs([logfile], 60))
            time.sleep(0.1)
        yield mnt
    finally:
        if is_mounted(mnt):
            unmount(mnt)
        stop_pid(proc.pid, popen=proc)
        if is_mounted(mnt):
            unmount(mnt)
        if not is_mounted(mnt):
            shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# environment checks


def brick_host() -> str:
    """A host name for brick specs: glusterd refuses 'localhost'/127.0.0.1, so use the machine's
    name, which must resolve to a loopback address here (override: GFRPC_INTEROP_HOST)."""
    host = os.environ.get("GFRPC_INTEROP_HOST") or socket.gethostname()
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None, socket.AF_INET)}
    except OSError as e:
        addrs = set()
        need(False, f"host name {host!r} does not resolve ({e}); add it to /etc/hosts as "
                    "127.0.1.1 or set GFRPC_INTEROP_HOST")
    need(any(a.startswith("127.") for a in addrs),
         f"host name {host!r} resolves to {sorted(addrs)}, not to a loopback address; the "
         "harness only uses loopback (set GFRPC_INTEROP_HOST to a name for 127.x)")
    return host


def check_prerequisites() -> None:
    need(os.geteuid() == 0, "real GlusterFS daemons need root")
    for binary in ("glusterd", "glusterfsd", "gluster"):
        need(shutil.which(binary), f"`{binary}` not found (apt-get install glusterfs-server)")
    need(not (SYSTEM_WORKDIR / "secure-access").exists(),
         f"{SYSTEM_WORKDIR}/secure-access exists (management TLS on); the harness expects "
         "plain management traffic")

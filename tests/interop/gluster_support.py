"""Support pieces of the interop harness: constants, the CI rule, process and file helpers,
a tiny self-contained RPC probe, and TLS material. ``gluster.py`` builds on these.
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
import time
from collections.abc import Sequence
from dataclasses import dataclass
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

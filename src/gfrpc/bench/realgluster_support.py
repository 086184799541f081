"""Support pieces of the real-GlusterFS launcher (:mod:`gfrpc.bench.realgluster`): constants,
errors, process and file helpers, a tiny self-contained RPC probe and TLS material.

Moved here from the interop test harness so that benchmarks can start a real GlusterFS too;
``tests/interop/gluster_support.py`` re-exports all of it and adds the pytest-facing ``need()``.
Nothing here imports pytest: a missing prerequisite raises :class:`GlusterUnavailable`.
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gfrpc.errors import ConfigError

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


class GlusterUnavailable(ConfigError):
    """A prerequisite for running a real GlusterFS is missing (not root, binaries missing,
    port 24007 taken, glusterd or a brick does not come up, ...). The message says which.

    The interop tests turn it into ``need(False, reason)``: a failure under CI, a skip
    otherwise; benchmarks print it and go on without the real GlusterFS rows."""


def require(condition: object, reason: str) -> None:
    """Raise :class:`GlusterUnavailable` with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise GlusterUnavailable(reason)


# --------------------------------------------------------------------------------------------
# small process / file helpers


def run(
    argv: Sequence[str],
    *,
    timeout: float = CLI_TIMEOUT,
    check: bool = False,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """subprocess.run with a timeout always set and text output captured."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=check, input=input
    )


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


def stop_pid(
    pid: int, *, popen: subprocess.Popen[bytes] | None = None, grace: float = STOP_GRACE
) -> None:
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
# hand-written client volfiles


def client_volfile(
    *,
    remote_port: int,
    remote_subvolume: str,
    remote_host: str = "127.0.0.1",
    tls_dir: Path | str | None = None,
    name: str = "gfrpc-client-0",
    extra_options: dict[str, str] | None = None,
) -> str:
    """A one-xlator ``protocol/client`` volfile aimed at ``remote_subvolume`` (a brick path)
    on ``remote_host:remote_port``; with ``tls_dir`` (glusterfs.pem/.key/.ca) over TLS."""
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
        opts.update(
            {
                "transport.socket.ssl-enabled": "on",
                "transport.socket.ssl-own-cert": str(d / "glusterfs.pem"),
                "transport.socket.ssl-private-key": str(d / "glusterfs.key"),
                "transport.socket.ssl-ca-list": str(d / "glusterfs.ca"),
            }
        )
    opts.update(extra_options or {})
    lines = [f"volume {name}", "    type protocol/client"]
    lines += [f"    option {k} {v}" for k, v in opts.items()]
    lines += ["end-volume", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# a tiny, self-contained ONC RPC probe (independent of gfrpc, so it can check gfrpc too)


def _xdr_string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def rpc_call(
    address: tuple[str, int],
    prog: int,
    vers: int,
    proc: int,
    args: bytes = b"",
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 10.0,
    xid: int = 1,
) -> bytes:
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
    return record[off + 4 :]


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


def gf_dump(
    address: tuple[str, int], *, ssl_context: ssl.SSLContext | None = None, timeout: float = 10.0
) -> list[tuple[str, int, int]]:
    """GF-DUMP DUMP: the (name, program, version) list a glusterd or brick advertises."""
    body = rpc_call(
        address,
        GF_DUMP_PROGRAM,
        GF_DUMP_VERSION,
        GF_DUMP_DUMP,
        struct.pack(">Q", 0),
        ssl_context=ssl_context,
        timeout=timeout,
    )
    _gfs_id, op_ret, op_errno, more = struct.unpack_from(">QiiI", body)
    if op_ret != 0:
        raise GlusterError(f"DUMP failed: op_ret={op_ret} op_errno={op_errno}")
    off, progs = 20, []
    while more:
        (n,) = struct.unpack_from(">I", body, off)
        name = body[off + 4 : off + 4 + n].decode()
        off += 4 + n + (-n % 4)
        prog, ver, more = struct.unpack_from(">QQI", body, off)
        off += 20
        progs.append((name, prog, ver))
    return progs


def pmap_port_by_brick(
    brick_path: str, address: tuple[str, int] = GLUSTERD_ADDRESS, timeout: float = 10.0
) -> int:
    """Ask glusterd's portmapper which port serves ``brick_path`` (-1 if unknown)."""
    body = rpc_call(
        address,
        PMAP_PROGRAM,
        PMAP_VERSION,
        PMAP_PORTBYBRICK,
        _xdr_string(brick_path),
        timeout=timeout,
    )
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
UNTRUSTED_CN = "gfrpc-untrusted"


def make_tls_material(root: Path) -> TLSMaterial:
    """EC P-256 certificates made with ``gfrpc.tls.write_certs`` in ``root``/{server,client,
    untrusted-client}: server and client share one CA, the untrusted client has its own.
    Each leaf allows both serverAuth and clientAuth."""
    try:
        import cryptography  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the venv
        raise GlusterUnavailable(
            "the 'cryptography' package is not installed (pip install -e '.[certs]')"
        ) from None
    from gfrpc.tls.certs import write_certs

    root = Path(root)
    server, client, other = root / "server", root / "client", root / "untrusted-client"
    write_certs(server, SERVER_CN)
    write_certs(client, CLIENT_CN, ca_dir=server)
    write_certs(other, UNTRUSTED_CN)
    return TLSMaterial(
        root=root,
        server=TLSFiles(server, SERVER_CN),
        client=TLSFiles(client, CLIENT_CN),
        untrusted_client=TLSFiles(other, UNTRUSTED_CN),
    )


# --------------------------------------------------------------------------------------------
# FUSE client from a hand-written volfile (reference §6.5)


@contextlib.contextmanager
def fuse_mount(
    volfile_text: str,
    *,
    workdir: Path,
    timeout: float = 20.0,
    extra_args: Sequence[str] = (),
    log_sink: list[Path] | None = None,
) -> Iterator[Path]:
    """Run ``glusterfs -N --volfile=F --pid-file=P MNT`` and yield MNT once it serves I/O.

    The mount is live when it is listed in /proc/mounts *and* a ``stat`` of its root succeeds
    (the first lookup only succeeds once the client has connected to its brick). At exit: umount
    (lazy umount as fallback), then the client process is stopped by pid.
    """
    require(shutil.which("glusterfs"), "the glusterfs FUSE client binary is not installed")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing (no FUSE in this environment)")
    workdir.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="fuse-", dir=workdir))
    volfile, pidfile, logfile, mnt = d / "client.vol", d / "client.pid", d / "client.log", d / "m"
    mnt.mkdir()
    volfile.write_text(volfile_text)
    if log_sink is not None:
        log_sink.append(logfile)
    argv = [
        "glusterfs",
        "-N",
        f"--volfile={volfile}",
        f"--pid-file={pidfile}",
        f"--log-file={logfile}",
        *extra_args,
        str(mnt),
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        last_err = "not mounted yet"
        while True:
            if proc.poll() is not None:
                raise GlusterError(
                    f"glusterfs FUSE client exited ({proc.returncode}) before the "
                    f"mount was live\n" + collect_logs([logfile], 60)
                )
            if is_mounted(mnt, "fuse.glusterfs"):
                try:
                    r = run(["stat", "-c", "%i", str(mnt)], timeout=10)
                    if r.returncode == 0:
                        break
                    last_err = r.stderr.strip()
                except subprocess.TimeoutExpired:
                    last_err = "stat of the mount root timed out"
            if time.monotonic() > deadline:
                raise GlusterError(
                    f"FUSE mount {mnt} not live within {timeout:.0f}s "
                    f"({last_err})\n" + collect_logs([logfile], 60)
                )
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
        addrs = {str(ai[4][0]) for ai in socket.getaddrinfo(host, None, socket.AF_INET)}
    except OSError as e:
        raise GlusterUnavailable(
            f"host name {host!r} does not resolve ({e}); add it to "
            "/etc/hosts as 127.0.1.1 or set GFRPC_INTEROP_HOST"
        ) from None
    require(
        any(a.startswith("127.") for a in addrs),
        f"host name {host!r} resolves to {sorted(addrs)}, not to a loopback address; the "
        "harness only uses loopback (set GFRPC_INTEROP_HOST to a name for 127.x)",
    )
    return host


def check_prerequisites(*, allow_secure_access: bool = False) -> None:
    """Raise GlusterUnavailable unless a private real GlusterFS can run here (root, binaries,
    no management TLS unless ``allow_secure_access``: the bench turns it on on purpose in a
    private mount namespace)."""
    require(os.geteuid() == 0, "real GlusterFS daemons need root")
    for binary in ("glusterd", "glusterfsd", "gluster"):
        require(shutil.which(binary), f"`{binary}` not found (apt-get install glusterfs-server)")
    require(
        allow_secure_access or not (SYSTEM_WORKDIR / "secure-access").exists(),
        f"{SYSTEM_WORKDIR}/secure-access exists (management TLS on); the harness expects "
        "plain management traffic",
    )

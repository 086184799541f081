"""What every part of the real-GlusterFS kit shares: where GlusterFS keeps things, time limits,
the two errors, and the checks that a private GlusterFS can run here.

Nothing in :mod:`gfrpc.testing.realgluster` imports pytest: a missing prerequisite (not root,
binaries missing, a host name that is not loopback, ...) raises :class:`GlusterUnavailable`,
whose message says what is missing. The test suite turns it into ``gfrpc.testing.need(False,
reason)``: a failure under ``CI=true``, a skip otherwise. ``gfrpc bench`` prints it and goes on
without the real GlusterFS rows.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from gfrpc.errors import ConfigError
from gfrpc.transport.options import DEFAULT_PORT

GLUSTERD_PORT = DEFAULT_PORT  # 24007, where every GlusterFS client asks first
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


def brick_log_path(brick_path: str | Path) -> Path:
    """Where glusterd tells a brick to log: /var/log/glusterfs/bricks/<path, '/' -> '-'>.log."""
    return LOG_DIR / "bricks" / (str(brick_path).strip("/").replace("/", "-") + ".log")


def fuse_log_path(mountpoint: str | Path) -> Path:
    """Default log of a FUSE client (we always pass -l explicitly, this is for reference)."""
    return LOG_DIR / (str(mountpoint).strip("/").replace("/", "-") + ".log")


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

"""Run ``gfrpc bench`` in a private network and mount namespace, and prepare that namespace.

Theory of operation. As root, ``gfrpc bench`` re-executes itself under ``unshare --net --mount
--propagation private`` (:func:`run_isolated`). In the new network namespace only ``lo``
exists, down: :func:`enter_private_network` brings it up, and then all of 127.0.0.0/8 is ours,
port 24007 included, whatever GlusterFS the host runs. In the new mount namespace nothing we
mount is seen outside (propagation private), so :func:`secure_access_overlay` may put
GlusterFS's client-side TLS switches where GlusterFS looks for them: an empty
``secure-access`` over ``/var/lib/glusterd`` (management TLS on) and our identity over
GlusterFS's default TLS directory (read from its socket transport). Both are bind mounts of
directories in our scratch tree: the host's files are never written.

The child knows it is isolated from an environment marker (``GFRPC_BENCH_ISOLATED=1``) plus
the parent's namespace ids (``GFRPC_BENCH_HOST_NS``): :func:`in_private_namespace` is true only
when both namespaces differ from the parent's, and the overlay refuses to run otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any

from gfrpc.errors import ConfigError

__all__ = [
    "ENV_HOST_NS",
    "ENV_MARKER",
    "GLUSTERD_STATE_DIR",
    "IsolationError",
    "Overlay",
    "default_ssl_dir",
    "enter_private_network",
    "in_private_namespace",
    "isolated_env",
    "run_in_namespace",
    "run_isolated",
    "secure_access_overlay",
    "should_isolate",
    "unshare_argv",
]

ENV_MARKER = "GFRPC_BENCH_ISOLATED"
ENV_HOST_NS = "GFRPC_BENCH_HOST_NS"
GLUSTERD_STATE_DIR = Path("/var/lib/glusterd")  # where GlusterFS looks for secure-access
TLS_NAMES = ("glusterfs.pem", "glusterfs.key", "glusterfs.ca")
UNSHARE = ("unshare", "--net", "--mount", "--propagation", "private", "--")

_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


class IsolationError(ConfigError):
    """The private namespace cannot be set up, or an action needs it and we are not in it."""


# -- who we are --------------------------------------------------------------------------------


def _namespaces() -> str:
    """This process's mount and network namespace ids, e.g. ``mnt:[4026..] net:[4026..]``."""
    return " ".join(os.readlink(f"/proc/self/ns/{ns}") for ns in ("mnt", "net"))


def in_private_namespace() -> bool:
    """True in a process started by :func:`run_in_namespace` (marker set, and both the mount
    and the network namespace differ from the parent's)."""
    if os.environ.get(ENV_MARKER) != "1":
        return False
    parent = os.environ.get(ENV_HOST_NS, "").split()
    try:
        mine = _namespaces().split()
    except OSError:
        return False
    return len(parent) == 2 and all(a != b for a, b in zip(parent, mine, strict=True))


@cache
def _unshare_works() -> bool:
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def should_isolate(*, disabled: bool = False) -> bool:
    """Whether ``gfrpc bench`` should re-execute itself in a private namespace: root, Linux,
    ``unshare`` present and working, not already isolated, and not ``disabled``
    (``--no-isolate``)."""
    return (
        not disabled
        and sys.platform.startswith("linux")
        and os.geteuid() == 0
        and os.environ.get(ENV_MARKER) != "1"
        and shutil.which("unshare") is not None
        and _unshare_works()
    )


# -- starting the isolated child ------------------------------------------------------------------


def unshare_argv(command: list[str]) -> list[str]:
    """``command`` wrapped in ``unshare --net --mount --propagation private --``."""
    return [*UNSHARE, *command]


def isolated_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the isolated child: ``base`` (default ours) plus the marker, the
    parent's namespace ids, and a PYTHONPATH that finds this gfrpc."""
    env = dict(os.environ if base is None else base)
    env[ENV_MARKER] = "1"
    env[ENV_HOST_NS] = _namespaces()
    src = str(Path(__file__).resolve().parents[3])
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([src, *[p for p in paths if p != src]])
    return env


def run_in_namespace(command: list[str], *, timeout: float | None = None) -> int:
    """Run ``command`` in a new network + mount namespace (marker set); SIGINT and SIGTERM
    sent to us are passed on to it (it runs in its own process group, so a Ctrl-C reaches it
    once, through us). Returns its exit status (128 + N when killed by signal N)."""
    proc = subprocess.Popen(unshare_argv(command), env=isolated_env(), process_group=0)
    forwarded: dict[signal.Signals, Any] = {}

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    with contextlib.suppress(ValueError):  # not the main thread: nothing to forward
        for sig in (signal.SIGINT, signal.SIGTERM):
            forwarded[sig] = signal.signal(sig, forward)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    finally:
        for sig, old in forwarded.items():
            signal.signal(sig, old)
    return 128 - rc if rc < 0 else rc


def run_isolated(argv: list[str]) -> int:
    """Re-execute ``python -m gfrpc.cli ARGV...`` in a private namespace (see the module
    docstring) and return its exit status. Call it only when :func:`should_isolate` says so."""
    return run_in_namespace([sys.executable, "-m", "gfrpc.cli", *argv])


# -- inside the namespace -------------------------------------------------------------------------


def enter_private_network() -> None:
    """Bring ``lo`` up (SIOCSIFFLAGS); then 127.0.0.0/8 answers. A no-op when it is up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack_from("16sH", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
        if not flags & _IFF_UP:
            try:
                fcntl.ioctl(
                    s.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP)
                )
            except OSError as e:
                raise IsolationError(f"cannot bring the loopback interface up: {e}") from None


def default_ssl_dir() -> Path:
    """Where this GlusterFS build reads glusterfs.pem/.key/.ca when no option names them
    (Debian: /usr/lib/ssl; upstream: /etc/ssl): the path compiled into its socket
    transport."""
    found = [
        p
        for pattern in (
            "lib/*/glusterfs/*/rpc-transport/socket.so",
            "lib64/glusterfs/*/rpc-transport/socket.so",
            "lib/glusterfs/*/rpc-transport/socket.so",
        )
        for p in sorted(Path("/usr").glob(pattern))
    ]
    if not found:
        raise IsolationError(
            "GlusterFS's socket transport (rpc-transport/socket.so) is not installed"
        )
    m = re.search(rb"(/[\w./-]+)/glusterfs\.pem\x00", found[0].read_bytes())
    if m is None:
        raise IsolationError(f"no default glusterfs.pem path in {found[0]}")
    return Path(m.group(1).decode())


@dataclass
class Overlay:
    """The bind mounts made by :func:`secure_access_overlay`; ``remove()`` undoes them."""

    ssl_dir: Path
    mounts: list[Path] = field(default_factory=list)

    def remove(self) -> None:
        for mnt in reversed(self.mounts):
            r = subprocess.run(["umount", str(mnt)], capture_output=True, timeout=15)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=15)
        self.mounts.clear()


def _bind(source: Path, target: Path) -> None:
    r = subprocess.run(
        ["mount", "--bind", str(source), str(target)], capture_output=True, text=True, timeout=15
    )
    if r.returncode != 0:
        raise IsolationError(f"mount --bind {source} {target}: {r.stderr.strip()}")


def secure_access_overlay(identity_dir: Path, scratch: Path) -> Overlay:
    """Turn GlusterFS management TLS on for this namespace with ``identity_dir``'s
    glusterfs.pem/.key/.ca as the identity of every GlusterFS process started here.

    ``scratch/glusterd-state`` (an empty ``secure-access``, plus a copy of ``groups``) is
    bind-mounted over /var/lib/glusterd, and ``scratch/ssl`` over GlusterFS's default TLS
    directory: the identity, symlinks for the entries that point elsewhere (openssl.cnf,
    certs) and copies of the other entries. Raises :class:`IsolationError` outside the
    private namespace: the host's view must never change."""
    if not in_private_namespace():
        raise IsolationError(
            "refusing to overlay /var/lib/glusterd and GlusterFS's TLS "
            "directory outside a private mount namespace (gfrpc bench "
            "isolation)"
        )
    ssl_dir = default_ssl_dir()
    for path in (GLUSTERD_STATE_DIR, ssl_dir):
        if not path.is_dir():
            raise IsolationError(f"{path} does not exist (nothing to mount over)")
    overlay = Overlay(ssl_dir)
    ssl, state = scratch / "ssl", scratch / "glusterd-state"
    ssl.mkdir()
    state.mkdir()
    for entry in ssl_dir.iterdir():
        if entry.name.startswith("glusterfs."):
            continue
        target = entry.resolve()
        if not target.is_relative_to(ssl_dir):
            (ssl / entry.name).symlink_to(target)
        elif entry.is_dir():
            shutil.copytree(entry, ssl / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, ssl / entry.name)
    for name in TLS_NAMES:
        shutil.copy(identity_dir / name, ssl / name)
    (state / "secure-access").touch()
    if (GLUSTERD_STATE_DIR / "groups").is_dir():
        shutil.copytree(GLUSTERD_STATE_DIR / "groups", state / "groups")
    try:
        _bind(ssl, ssl_dir)
        overlay.mounts.append(ssl_dir)
        _bind(state, GLUSTERD_STATE_DIR)
        overlay.mounts.append(GLUSTERD_STATE_DIR)
    except BaseException:
        overlay.remove()
        raise
    return overlay

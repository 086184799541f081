"""The real GlusterFS for ``gfrpc bench``: one private glusterd, one one-brick volume per
(TLS, event-threads) of the glusterfsd specs, and the check that fio's gfapi engine exists.

Theory of operation. :func:`gluster_missing` and :func:`fio_missing` say in one line why a
part cannot run here (None when it can). :func:`start_glusterd_volumes` starts
:class:`gfrpc.testing.realgluster.GlusterD` under the scratch tree (the caller has made the
private namespace, and turned management TLS on with the secure-access overlay when TLS rows
are wanted, hence ``allow_secure_access``) and creates the volumes with
``server.event-threads``; TLS volumes get ``client.ssl``/``server.ssl`` and the server
identity of the run's TLS material.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gfrpc.bench.experiment.model import ServerSpec
from gfrpc.testing import realgluster as rg

SUN_PATH_MAX = 108  # sockaddr_un.sun_path, NUL included

__all__ = ["fio_missing", "gluster_missing", "gluster_volname", "start_glusterd_volumes"]


def gluster_volname(tls: bool, event_threads: int) -> str:
    """``gb-glusterfsd-x2``, ``gb-glusterfsd-x4-tls``."""
    return f"gb-glusterfsd-x{event_threads}" + ("-tls" if tls else "")


def gluster_missing(port_24007: bool) -> str | None:
    """Why a private glusterd cannot run here, in one line; None when it can (it may still
    find 127.0.0.1:24007 taken when it starts)."""
    if os.geteuid() != 0:
        return "needs root: glusterd and glusterfsd run as root"
    missing = [b for b in ("glusterd", "glusterfsd", "gluster") if shutil.which(b) is None]
    if missing:
        return (
            f"GlusterFS is not installed: no {', '.join(missing)} "
            "(apt-get install glusterfs-server)"
        )
    if not port_24007:
        return "needs port 24007 (glusterd's), which this stage may not take"
    return None


def fio_missing(port_24007: bool) -> str | None:
    """Why ``fio --ioengine=gfapi`` cannot reach the bench's servers, in one line."""
    if shutil.which("fio") is None:
        return "fio is not installed (apt-get install fio)"
    try:
        ok = (
            subprocess.run(["fio", "--enghelp=gfapi"], capture_output=True, timeout=30).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        return "this fio has no gfapi engine (fio --enghelp=gfapi fails)"
    if os.geteuid() != 0:
        return "needs root: fio's gfapi engine finds volumes only on port 24007"
    if not port_24007:
        return "fio's gfapi engine finds volumes only on port 24007, which this stage may not take"
    return None


def start_glusterd_volumes(
    specs: list[ServerSpec],
    parent: Path,
    material: rg.TLSMaterial | None,
    *,
    secure_access: bool,
    started: list[rg.GlusterD],
) -> dict[tuple[bool, int], rg.GlusterVolume]:
    """Start glusterd under ``parent`` (appended to ``started`` at once, for cleanup) and one
    volume per (tls, event_threads) of ``specs``. Raises GlusterUnavailable/GlusterError."""
    sock = parent / "glusterd-XXXXXXXX" / "run" / "glusterd.socket"  # GlusterD's layout
    rg.require(
        len(str(sock)) < SUN_PATH_MAX,
        f"the scratch path {parent} is too long for glusterd's unix socket "
        f"({len(str(sock))} >= {SUN_PATH_MAX} bytes); use a shorter scratch parent",
    )
    gd = rg.GlusterD.start(parent=parent, prefix="glusterd-", allow_secure_access=secure_access)
    started.append(gd)
    volumes: dict[tuple[bool, int], rg.GlusterVolume] = {}
    for key in sorted({(s.tls, s.event_threads) for s in specs}):
        tls, threads = key
        volumes[key] = gd.create_volume(
            gluster_volname(tls, threads),
            tls=material if tls else None,
            options={"server.event-threads": str(threads)},
        )
    return volumes

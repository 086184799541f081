"""A private real GlusterFS 10 from Python, for tests and benchmarks.

* :mod:`.glusterd`: :class:`GlusterD` (a ``glusterd -N`` whose state lives in a temporary
  directory); :mod:`.volumes`: its volume half (the ``gluster`` CLI, :class:`GlusterVolume`,
  :class:`BrickInfo`).
* :mod:`.base`: where GlusterFS keeps things, limits, :class:`GlusterError`,
  :class:`GlusterUnavailable` and the prerequisite checks; hand-written client volfiles.
* :mod:`.processes`: run, stop by pid, pid files, listeners, log tails.
* :mod:`.mounts`: FUSE mounts of the real client.
* :mod:`.probe`: a tiny ONC RPC client independent of gfrpc (GF-DUMP, PORTBYBRICK).
* TLS files (:class:`TLSFiles`, :class:`TLSMaterial`, :func:`make_tls_material`) come from
  :mod:`gfrpc.testing.certs` and are re-exported here.

Nothing imports pytest; a missing prerequisite raises :class:`GlusterUnavailable`.
"""

from __future__ import annotations

from gfrpc.testing.certs import (
    CLIENT_CN,
    SERVER_CN,
    UNTRUSTED_CN,
    TLSFiles,
    TLSMaterial,
    make_tls_material,
)
from gfrpc.testing.realgluster.base import (
    BRICK_PORT_RANGE,
    CLI_TIMEOUT,
    GLUSTERD_ADDRESS,
    GLUSTERD_PORT,
    LOG_DIR,
    START_TIMEOUT,
    STOP_GRACE,
    SYSTEM_RUNDIR,
    SYSTEM_WORKDIR,
    TMP_PREFIX,
    VOLUME_LOG_SUBDIRS,
    GlusterError,
    GlusterUnavailable,
    brick_host,
    brick_log_path,
    check_prerequisites,
    client_volfile,
    fuse_log_path,
    require,
)
from gfrpc.testing.realgluster.glusterd import BrickInfo, GlusterD, GlusterVolume
from gfrpc.testing.realgluster.mounts import fuse_mount, is_mounted, mounts_under, unmount
from gfrpc.testing.realgluster.probe import gf_dump, pmap_port_by_brick, rpc_call
from gfrpc.testing.realgluster.processes import (
    cmdline,
    collect_logs,
    listener_pids,
    pid_alive,
    port_open,
    read_pidfile,
    run,
    stop_pid,
    stop_processes_naming,
    tail,
)

__all__ = [
    "BRICK_PORT_RANGE",
    "CLIENT_CN",
    "CLI_TIMEOUT",
    "GLUSTERD_ADDRESS",
    "GLUSTERD_PORT",
    "LOG_DIR",
    "SERVER_CN",
    "START_TIMEOUT",
    "STOP_GRACE",
    "SYSTEM_RUNDIR",
    "SYSTEM_WORKDIR",
    "TMP_PREFIX",
    "UNTRUSTED_CN",
    "VOLUME_LOG_SUBDIRS",
    "BrickInfo",
    "GlusterD",
    "GlusterError",
    "GlusterUnavailable",
    "GlusterVolume",
    "TLSFiles",
    "TLSMaterial",
    "brick_host",
    "brick_log_path",
    "check_prerequisites",
    "client_volfile",
    "cmdline",
    "collect_logs",
    "fuse_log_path",
    "fuse_mount",
    "gf_dump",
    "is_mounted",
    "listener_pids",
    "make_tls_material",
    "mounts_under",
    "pid_alive",
    "pmap_port_by_brick",
    "port_open",
    "read_pidfile",
    "require",
    "rpc_call",
    "run",
    "stop_pid",
    "stop_processes_naming",
    "tail",
    "unmount",
]

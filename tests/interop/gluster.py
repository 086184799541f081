"""The interop tests' view of the real-GlusterFS launcher.

The launcher (GlusterD, GlusterVolume, client_volfile, fuse_mount, TLS material, the tiny RPC
probe, process helpers) lives in :mod:`gfrpc.bench.realgluster` so benchmarks can use it too;
this module re-exports all of it together with the pytest-facing ``need()`` from
``gluster_support``, so tests keep writing ``from gluster import ...``.

The launcher raises ``GlusterUnavailable`` for a missing prerequisite; ``conftest.py`` turns
that into ``need(False, reason)`` (a failure under CI=true, a skip otherwise).
"""

from __future__ import annotations

from gluster_support import in_ci, need  # noqa: F401  (re-exported for the tests)

from gfrpc.bench.realgluster import *  # noqa: F403  (re-exported for the tests)
from gfrpc.bench.realgluster import (  # noqa: F401  (names the tests import)
    BRICK_PORT_RANGE,
    GLUSTERD_ADDRESS,
    SYSTEM_WORKDIR,
    BrickInfo,
    GlusterD,
    GlusterError,
    GlusterUnavailable,
    GlusterVolume,
    TLSMaterial,
    client_volfile,
    cmdline,
    fuse_mount,
    gf_dump,
    make_tls_material,
    pid_alive,
    pmap_port_by_brick,
    port_open,
    rpc_call,
    run,
    stop_pid,
    unmount,
)

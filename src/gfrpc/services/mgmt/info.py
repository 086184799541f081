"""The reply dicts of the read-only CLI commands, with exactly the keys the CLI's printers read.

``volume info`` (GET_VOLUME), ``volume list``, ``volume status`` (plain, ``detail``, ``all``),
``peer status`` and ``pool list``: the key names, numbering (volumes from 0, their bricks from
1, status nodes from 0) and value forms (every value a C string, integers in decimal) are those
of glusterd 10.3's replies recorded in ``tests/fixtures/cli``; the stock CLI formats text and
``--xml`` from them. Builders return plain ``dict[str, str]`` in glusterd's insertion order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gfrpc.programs.cli import ClusterType
from gfrpc.services.mgmt.state import Volume

__all__ = [
    "BrickStatus",
    "BrickView",
    "volume_info",
    "volume_list",
    "status_all",
    "volume_status",
    "peer_list",
]


class BrickStatus(Protocol):
    """One brick as the supervisor reports it (``supervisor.BrickState``)."""

    @property
    def host(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def online(self) -> bool: ...


@dataclass(frozen=True)
class BrickView:
    """What ``volume status`` shows of one brick (the supervisor's ``BrickState`` fits)."""

    host: str
    path: str
    port: int | None
    pid: int | None
    online: bool


def volume_info(volumes: Sequence[Volume], node_uuid: uuid.UUID) -> dict[str, str]:
    """GET_VOLUME's reply dict: ``volume%d.*`` for each of ``volumes``, then ``count``."""
    d: dict[str, str] = {}
    for i, v in enumerate(volumes):
        p = f"volume{i}."
        d |= {
            p + "name": v.name,
            p + "type": str(int(v.type)),
            p + "status": str(int(v.status)),
            p + "brick_count": str(len(v.bricks)),
            # dist_leaf_count: bricks per distribute leaf, 1 on a plain distribute volume
            p + "dist_count": "1" if v.type == ClusterType.NONE else str(len(v.bricks)),
            p + "replica_count": "1",
            p + "disperse_count": "0",
            p + "redundancy_count": "0",
            p + "arbiter_count": "0",
            p + "transport": "0",  # tcp
            p + "thin_arbiter_count": "0",
            p + "volume_id": str(v.volume_id),
            p + "rebalance": "0",
            p + "snap_count": "0",
        }
        for j, b in enumerate(v.bricks, start=1):
            d[f"{p}brick{j}"] = f"{b.host}:{b.path}"
            d[f"{p}brick{j}.uuid"] = str(node_uuid)
        for key, value in v.options.items():
            d[f"{p}option.{key}"] = value
        d[p + "opt_count"] = str(len(v.options))
    d["count"] = str(len(volumes))
    return d


def volume_list(names: Iterable[str]) -> dict[str, str]:
    """LIST_VOLUME's reply dict: ``volume%d`` names and ``count``."""
    d = {f"volume{i}": n for i, n in enumerate(names)}
    d["count"] = str(len(d))
    return d


def status_all(names: Sequence[str]) -> dict[str, str]:
    """``volume status`` without a name, first call: the volumes the CLI asks about next."""
    d = {"vol_count": str(len(names))}
    d |= {f"vol{i}": n for i, n in enumerate(names)}
    return d


def volume_status(
    volume: Volume,
    bricks: Sequence[BrickStatus],
    node_uuid: uuid.UUID,
    *,
    detail: bool = False,
) -> dict[str, str]:
    """One volume's STATUS_VOLUME reply keys (the request's own keys are added by the
    caller): ``brick%d.*`` per brick from 0, ``brick-index-max``, ``other-count`` 0 (no
    self-heal or NFS daemons), ``tasks`` 0; with ``detail`` the brick's file system too."""
    d: dict[str, str] = {"vol-id": str(volume.volume_id)}
    for i, b in enumerate(bricks):
        p = f"brick{i}."
        d |= {
            p + "hostname": b.host,
            p + "path": b.path,
            p + "peerid": str(node_uuid),
            p + "status": "1" if b.online else "0",
            p + "port": str(b.port or 0) if b.online else "0",
            p + "rdma_port": "0",
            p + "pid": str(b.pid) if b.online and b.pid else "-1",
        }
        if detail:
            d |= {p + k: v for k, v in _detail(b.path).items()}
    d |= {
        "brick-index-max": str(len(bricks) - 1),
        "other-count": "0",
        "count": str(len(bricks)),
        "type": "-1",
        "hot_brick_count": "-1",
        "tasks": "0",
    }
    return d


def _detail(path: str) -> dict[str, str]:
    """``volume status detail`` of a brick directory: sizes from statvfs, the file system from
    /proc/mounts (the longest mount point that contains ``path``); nothing when it is absent."""
    try:
        st = os.statvfs(path)
    except OSError:
        return {}
    out = {
        "free": str(st.f_bavail * st.f_frsize),
        "total": str(st.f_blocks * st.f_frsize),
        "block_size": str(st.f_bsize),
        "total_inodes": str(st.f_files),
        "free_inodes": str(st.f_ffree),
    }
    mount = _mount_of(path)
    if mount is not None:
        device, fs_name, options = mount
        out |= {"device": device, "fs_name": fs_name, "mnt_options": options}
    return out


def _mount_of(path: str) -> tuple[str, str, str] | None:
    best: tuple[int, tuple[str, str, str]] | None = None
    real = os.path.realpath(path)
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        device, point, fs, opts = fields[:4]
        point = point.replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), (device, fs, opts))
    return best[1] if best else None


def peer_list(node_uuid: uuid.UUID, *, pool: bool) -> Mapping[str, str]:
    """LIST_FRIENDS's ``friends`` dict: no peers for ``peer status``; this node, named
    ``localhost`` and connected, for ``pool list``."""
    if not pool:
        return {"count": "0"}
    return {
        "friend1.uuid": str(node_uuid),
        "friend1.hostname": "localhost",
        "friend1.connected": "1",
        "count": "1",
    }

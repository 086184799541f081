"""Client volfiles, generated from what the daemon knows on each GETSPEC.

A stock client (FUSE mount, gfapi) builds its graph from this text. The graph is the one
glusterd 10.3 writes for a distribute volume with default options (checked against a real
glusterd's volfile, ``tests/fixtures/volfiles/one.tcp-fuse.vol``):

* one ``protocol/client`` per brick, in the volume's order (no ``remote-port``: the port
  mapper gives it), under a ``cluster/distribute`` named ``NAME-dht``;
* then ``performance/write-behind``, ``open-behind``, ``quick-read``, ``md-cache`` and
  ``io-threads``, and ``debug/io-stats`` named ``NAME`` on top.

The client-side caches decide which FOPs reach the bricks at all. With quick-read and
open-behind a small file is read from the content its LOOKUP brought back (no OPEN, no READ);
with write-behind a WRITE is answered before the brick has it. So a stock client mounting a
gfrpc volume behaves, and costs the bricks, what it does with glusterd. Each translator is left
out when its ``volume set`` key says so (``performance.quick-read off``, ...), as in volgen.

glusterd also stacks ``features/utime`` (``features.ctime``, on in glusterd). gfrpc's default
is off: its brick keeps no ctime metadata (``trusted.glusterfs.mdata``), and utime, not finding
it in a LOOKUP reply, follows the LOOKUP with a SETXATTR to create it, one more round trip per
file. ``volume set VOL features.ctime on`` stacks it anyway.

The volume's client options go into each ``protocol/client`` under the names glusterd's volgen
writes (``client.ssl on`` → ``transport.socket.ssl-enabled on``, ``network.ping-timeout 20`` →
``ping-timeout 20``, ``client.event-threads 4`` → ``event-threads 4``), so an option set with
``volume set`` takes effect for the next client that mounts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final

from gfrpc.services.mgmt.registry import BrickRef, VolumeSpec
from gfrpc.services.mgmt.state import Volume
from gfrpc.services.mgmt.volopts import client_options, graph_xlators

__all__ = ["client_volfile", "render_client_volfile", "stack_lines"]

SSL_OPTION = "transport.socket.ssl-enabled"


#: the translators glusterd 10.3 stacks above DHT by default, bottom up: (name suffix, type,
#: options); each is there or not by its volume key (``volopts.graph_xlators``)
STACK: Final = (
    ("utime", "features/utime", (("noatime", "on"),)),
    ("write-behind", "performance/write-behind", ()),
    ("open-behind", "performance/open-behind", ()),
    ("quick-read", "performance/quick-read", ()),
    ("md-cache", "performance/md-cache", ()),
    ("io-threads", "performance/io-threads", ()),
)
#: glusterd's options of the ``debug/io-stats`` translator at the top
IO_STATS_OPTIONS: Final = (
    ("global-threading", "off"),
    ("count-fop-hits", "off"),
    ("latency-measurement", "off"),
    ("threads", "16"),
    ("log-level", "INFO"),
)


def render_client_volfile(
    name: str,
    bricks: Sequence[BrickRef],
    options: Mapping[str, str] | None = None,
    stack: Collection[str] | None = None,
) -> str:
    """The client volfile of volume ``name`` over ``bricks`` with protocol/client ``options``
    (translator option names, as :func:`gfrpc.services.mgmt.volopts.client_options` gives),
    and the translators of :data:`STACK` named in ``stack`` (by default those a volume with
    no options set has)."""
    lines: list[str] = []
    names = []
    extra = dict(options or {})
    for i, brick in enumerate(bricks):
        xl = f"{name}-client-{i}"
        names.append(xl)
        lines += [
            f"volume {xl}",
            "    type protocol/client",
            "    option transport-type tcp",
            f"    option remote-host {brick.host}",
            f"    option remote-subvolume {brick.path}",
        ]
        lines += [f"    option {k} {v}" for k, v in extra.items()]
        lines += ["end-volume", ""]
    below = f"{name}-dht"
    lines += [
        f"volume {below}",
        "    type cluster/distribute",
        f"    subvolumes {' '.join(names)}",
        "end-volume",
        "",
    ]
    return "\n".join(lines + stack_lines(name, below, stack))


def stack_lines(name: str, below: str, stack: Collection[str] | None = None) -> list[str]:
    """The volfile lines of volume ``name``'s client translators above the xlator ``below``:
    those of :data:`STACK` named in ``stack`` (by default those a volume with no options set
    has), then ``debug/io-stats`` named ``name``, the top of the graph."""
    if stack is None:
        stack = graph_xlators({})
    lines: list[str] = []
    for suffix, xl_type, xl_options in STACK:
        if suffix not in stack:
            continue
        lines += [f"volume {name}-{suffix}", f"    type {xl_type}"]
        lines += [f"    option {k} {v}" for k, v in xl_options]
        lines += [f"    subvolumes {below}", "end-volume", ""]
        below = f"{name}-{suffix}"
    lines += [f"volume {name}", "    type debug/io-stats"]
    lines += [f"    option {k} {v}" for k, v in IO_STATS_OPTIONS]
    lines += [f"    subvolumes {below}", "end-volume", ""]
    return lines


def client_volfile(volume: VolumeSpec | Volume, *, io_tls: bool = False) -> str:
    """The client volfile of a configured (``--volume``) or stored volume. ``io_tls`` (mgmtd
    ``--io-tls``) turns TLS on unless the volume's own ``client.ssl`` says otherwise."""
    opts: dict[str, str] = {SSL_OPTION: "on"} if io_tls else {}
    stack: Collection[str] | None = None
    if isinstance(volume, Volume):
        opts |= client_options(volume.options)
        stack = graph_xlators(volume.options)
        bricks = [BrickRef(b.host, b.path) for b in volume.bricks]
    else:
        bricks = list(volume.bricks)
    if opts.get(SSL_OPTION) == "off":
        del opts[SSL_OPTION]
    return render_client_volfile(volume.name, bricks, opts, stack)

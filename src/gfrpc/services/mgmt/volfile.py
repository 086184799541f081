"""Client volfiles, generated from what the daemon knows on each GETSPEC.

A stock client (FUSE mount, gfapi) builds its graph from this text: one ``protocol/client``
per brick, in the volume's order, under a ``cluster/distribute`` named ``NAME-dht`` (the part of
glusterd's graph that matters on the wire; no ``remote-port``, the port mapper gives it). The
volume's client options go into each ``protocol/client`` under the names glusterd's volgen
writes (``client.ssl on`` → ``transport.socket.ssl-enabled on``, ``network.ping-timeout 20`` →
``ping-timeout 20``, ``client.event-threads 4`` → ``event-threads 4``), so an option set with
``volume set`` takes effect for the next client that mounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gfrpc.services.mgmt.registry import BrickRef, VolumeSpec
from gfrpc.services.mgmt.state import Volume
from gfrpc.services.mgmt.volopts import client_options

__all__ = ["client_volfile", "render_client_volfile"]

SSL_OPTION = "transport.socket.ssl-enabled"


def render_client_volfile(
    name: str, bricks: Sequence[BrickRef], options: Mapping[str, str] | None = None
) -> str:
    """The client volfile of volume ``name`` over ``bricks`` with protocol/client ``options``
    (translator option names, as :func:`gfrpc.services.mgmt.volopts.client_options` gives)."""
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
    lines += [
        f"volume {name}-dht",
        "    type cluster/distribute",
        f"    subvolumes {' '.join(names)}",
        "end-volume",
        "",
    ]
    return "\n".join(lines)


def client_volfile(volume: VolumeSpec | Volume, *, io_tls: bool = False) -> str:
    """The client volfile of a configured (``--volume``) or stored volume. ``io_tls`` (mgmtd
    ``--io-tls``) turns TLS on unless the volume's own ``client.ssl`` says otherwise."""
    opts: dict[str, str] = {SSL_OPTION: "on"} if io_tls else {}
    if isinstance(volume, Volume):
        opts |= client_options(volume.options)
        bricks = [BrickRef(b.host, b.path) for b in volume.bricks]
    else:
        bricks = list(volume.bricks)
    if opts.get(SSL_OPTION) == "off":
        del opts[SSL_OPTION]
    return render_client_volfile(volume.name, bricks, opts)

"""Program names as real GlusterFS 10 servers print them in a GF-DUMP reply.

The handshake program has two names: glusterd calls it "Gluster Handshake", a brick
"GlusterFS Handshake". ``PROGRAM_NAMES`` uses glusterd's; ``BRICK_PROGRAMS`` and
``GLUSTERD_PROGRAMS`` are the DUMP lists, in order, as captured from GlusterFS 10.3.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PROGRAM_NAMES", "GLUSTERD_PROGRAMS", "BRICK_PROGRAMS", "program_name"]

GLUSTERD_PROGRAMS: Final[tuple[tuple[str, int, int], ...]] = (
    ("GF-DUMP", 123451501, 1),
    ("GlusterD svc peer", 1238437, 2),
    ("GlusterD svc cli read-only", 1238463, 2),
    ("GlusterD svc mgmt", 1238433, 2),
    ("GlusterD svc mgmt v3", 1238433, 3),
    ("Gluster Portmap", 34123456, 1),
    ("Gluster Handshake", 14398633, 2),
    ("Gluster MGMT Handshake", 1239873, 1),
)

BRICK_PROGRAMS: Final[tuple[tuple[str, int, int], ...]] = (
    ("GlusterFS 4.x v1", 1298437, 400),
    ("GlusterFS 3.3", 1298437, 330),
    ("GF-DUMP", 123451501, 1),
    ("GlusterFS Handshake", 14398633, 2),
)

PROGRAM_NAMES: Final[dict[tuple[int, int], str]] = {
    **{(num, ver): name for name, num, ver in BRICK_PROGRAMS},
    **{(num, ver): name for name, num, ver in GLUSTERD_PROGRAMS},
    (52743234, 1): "GlusterFS Callback",
}


def program_name(prognum: int, progver: int) -> str | None:
    """The name GlusterFS gives ``(prognum, progver)``, or None when unknown."""
    return PROGRAM_NAMES.get((prognum, progver))

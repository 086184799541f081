"""Program names as real GlusterFS 10 servers print them in a GF-DUMP reply.

The handshake program has two names: glusterd calls it "Gluster Handshake", a brick
"GlusterFS Handshake". ``PROGRAM_NAMES`` uses glusterd's; ``BRICK_PROGRAMS`` and
``GLUSTERD_PROGRAMS`` are the DUMP lists, in order, as captured from GlusterFS 10.3. The numbers
of the programs gfrpc implements come from their modules; the others appear only here.
"""

from __future__ import annotations

from typing import Final

from gfrpc.programs.cli import GLUSTER_CLI_PROGRAM, GLUSTER_CLI_VERSION
from gfrpc.programs.dump import GF_DUMP_PROGRAM, GF_DUMP_VERSION
from gfrpc.programs.fops import GLUSTER_FOP_NAME, GLUSTER_FOP_PROGRAM, GLUSTER_FOP_VERSION
from gfrpc.programs.handshake import GF_HNDSK_PROGRAM, GF_HNDSK_VERSION
from gfrpc.programs.pmap import PMAP_PROGRAM, PMAP_VERSION

__all__ = ["PROGRAM_NAMES", "GLUSTERD_PROGRAMS", "BRICK_PROGRAMS", "program_name"]

GLUSTERD_PROGRAMS: Final[tuple[tuple[str, int, int], ...]] = (
    ("GF-DUMP", GF_DUMP_PROGRAM, GF_DUMP_VERSION),
    ("GlusterD svc peer", 1238437, 2),
    ("GlusterD svc cli read-only", GLUSTER_CLI_PROGRAM, GLUSTER_CLI_VERSION),
    ("GlusterD svc mgmt", 1238433, 2),
    ("GlusterD svc mgmt v3", 1238433, 3),
    ("Gluster Portmap", PMAP_PROGRAM, PMAP_VERSION),
    ("Gluster Handshake", GF_HNDSK_PROGRAM, GF_HNDSK_VERSION),
    ("Gluster MGMT Handshake", 1239873, 1),
)

BRICK_PROGRAMS: Final[tuple[tuple[str, int, int], ...]] = (
    (GLUSTER_FOP_NAME, GLUSTER_FOP_PROGRAM, GLUSTER_FOP_VERSION),
    ("GlusterFS 3.3", GLUSTER_FOP_PROGRAM, 330),
    ("GF-DUMP", GF_DUMP_PROGRAM, GF_DUMP_VERSION),
    ("GlusterFS Handshake", GF_HNDSK_PROGRAM, GF_HNDSK_VERSION),
)

PROGRAM_NAMES: Final[dict[tuple[int, int], str]] = {
    **{(num, ver): name for name, num, ver in BRICK_PROGRAMS},
    **{(num, ver): name for name, num, ver in GLUSTERD_PROGRAMS},
    (52743234, 1): "GlusterFS Callback",
}


def program_name(prognum: int, progver: int) -> str | None:
    """The name GlusterFS gives ``(prognum, progver)``, or None when unknown."""
    return PROGRAM_NAMES.get((prognum, progver))

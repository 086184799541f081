"""The gfrpc management daemon: GlusterFS's volfile server and port mapper for gfrpc bricks."""

from gfrpc.services.mgmt.registry import BrickRef, Registry, VolumeSpec, parse_volume_arg
from gfrpc.services.mgmt.server import MgmtConfig, MgmtServer
from gfrpc.services.mgmt.signin import BrickSignin

__all__ = [
    "BrickRef",
    "BrickSignin",
    "MgmtConfig",
    "MgmtServer",
    "Registry",
    "VolumeSpec",
    "parse_volume_arg",
]

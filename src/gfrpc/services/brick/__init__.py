"""The gfrpc brick: a GlusterFS-compatible RPC server for one brick directory."""

from gfrpc.services.brick.fops import FopService
from gfrpc.services.brick.server import BrickConfig, BrickServer, brick_volume_id

__all__ = ["BrickConfig", "BrickServer", "FopService", "brick_volume_id"]

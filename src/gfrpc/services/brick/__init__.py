"""The gfrpc brick: a GlusterFS-compatible RPC server for one brick directory."""

from gfrpc.services.brick.server import BrickConfig, BrickServer

__all__ = ["BrickConfig", "BrickServer"]

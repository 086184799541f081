"""gfrpc: a pure-Python, wire-compatible implementation of GlusterFS's RPC socket transport."""

__version__ = "0.1.0"

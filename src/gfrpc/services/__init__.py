"""Services built on the RPC layer: the brick (and, later, the port mapper and management)."""

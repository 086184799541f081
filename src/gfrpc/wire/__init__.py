"""Sans-IO codecs: XDR, RFC 5531 record marking, RPC messages and GlusterFS dicts.

Nothing in this package does I/O or starts threads (no socket, select, selectors, threading).
"""

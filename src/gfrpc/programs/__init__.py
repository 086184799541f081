"""Message schemas of the RPC programs gfrpc speaks (sans-IO, built on ``gfrpc.wire.xdr``)."""

"""ONC RPC client and server over the gfrpc transport (GlusterFS rpc-clnt / rpcsvc behaviour).

``RpcClient`` (xids, pending calls, frame-timeout, ping, reconnect), ``RpcServer`` (programs,
worker pool, GF-DUMP, outstanding-request limit), the shared ``TimerThread`` and the GF-DUMP
helpers ``dump()`` / ``ping()``.
"""

from gfrpc.rpc.client import FIRST_XID, Reply, RpcClient, default_credential, reply_error
from gfrpc.rpc.dump_client import dump, ping
from gfrpc.rpc.server import GarbageArgs, Procedure, Program, Request, RpcServer
from gfrpc.rpc.timers import TimerHandle, TimerThread, shared_timers
from gfrpc.rpc.workers import WorkerPool

__all__ = [
    "FIRST_XID",
    "GarbageArgs",
    "Procedure",
    "Program",
    "Reply",
    "Request",
    "RpcClient",
    "RpcServer",
    "TimerHandle",
    "TimerThread",
    "WorkerPool",
    "default_credential",
    "dump",
    "ping",
    "reply_error",
    "shared_timers",
]

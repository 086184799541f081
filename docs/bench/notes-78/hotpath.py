"""What a READ pays for its reply reservation when nobody waits: one reserve and one release
through RpcServer._reserve/_release, in a loop, with the tree on PYTHONPATH (old: per
connection only; new: the server-wide budget). Prints ns per pair, the median of 7 runs.

python hotpath.py"""
import statistics, time
from gfrpc.rpc import RpcServer
from gfrpc.rpc.server import Procedure
from gfrpc.transport import make_poller

server = RpcServer(make_poller("single"), workers=0)
conn = server.make_handler()
proc = Procedure("READ", lambda r: None, reply_size=lambda a: (1 << 20) + 256)

class Req:  # what _reserve and _release use of a request
    procedure = proc
    args = memoryview(b"")
    _reserved = 0
    def __init__(self) -> None:
        self._conn = conn

r = Req()
N = 200_000
runs = []
for _ in range(7):
    t = time.perf_counter()
    for _ in range(N):
        server._reserve(conn, r)
        server._release(r)
    runs.append((time.perf_counter() - t) / N * 1e9)
print(f"reserve+release: median {statistics.median(runs):.0f} ns (runs {', '.join(f'{x:.0f}' for x in runs)})")

"""How much memory can one peer make a listener hold, beyond its incomplete-record budget, by
finishing records almost and stalling there? A brick's default limits (256 MiB budget, 64 MiB
slack for finishers). The attacker first fills the budget (FILLERS connections, each 900 KiB of
a 1 MiB record), then opens STALLERS connections that each send all but one byte of a RECORD_MB
record, 8 at a time in flight. Prints the budget's total and the process's RSS every few seconds.

python recycle.py FILLERS STALLERS RECORD_MB SECONDS"""
import logging, os, socket, sys, threading, time
logging.basicConfig(level=logging.INFO, format="%(relativeCreated)6.0f %(message)s")
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from lean import Lean
from gfrpc import transport
from gfrpc.transport import ConnectionGuard, ServerLimits, make_poller
from gfrpc.wire.record import record_mark

FILLERS, STALLERS, RECORD, SECONDS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) << 20, float(sys.argv[4])
poller = make_poller("sharded", event_threads=2); poller.start()
guard = ConnectionGuard(ServerLimits())
lst = transport.listen("127.0.0.1:0", poller=poller, handler_factory=Lean, guard=guard)
addr = (lst.address.host, lst.address.port)
budget = guard.budget
bad: list[socket.socket] = []
def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) >> 10
    return 0
for i in range(FILLERS):
    s = socket.create_connection(addr); s.sendall(record_mark(1 << 20) + b"f" * (900 << 10)); bad.append(s)
time.sleep(1)
print(f"filled: held {budget.total>>20} MiB, rss {rss()} MiB", flush=True)
stop = time.monotonic() + SECONDS
chunk = b"s" * (1 << 20)
sent = [0]
def staller(k: int) -> None:
    for j in range(k, STALLERS, 8):
        if time.monotonic() > stop:
            return
        s = socket.create_connection(addr); bad.append(s)
        s.settimeout(max(0.1, stop - time.monotonic()))
        try:
            s.sendall(record_mark(RECORD))
            left = RECORD - 1
            while left:
                n = s.send(chunk[: min(left, len(chunk))]); left -= n; sent[0] += n
        except (socket.timeout, OSError):
            pass
th = [threading.Thread(target=staller, args=(k,), daemon=True) for k in range(8)]
for t in th: t.start()
t0 = time.monotonic()
while time.monotonic() < stop:
    time.sleep(3)
    print(f"{time.monotonic()-t0:4.0f} s: sent {sent[0]>>20} MiB; held {budget.total>>20} MiB (limit {budget.limit>>20}), gained {getattr(budget, 'gained', 0)>>20} MiB, finishing {budget.finishing}, paused {budget.paused}, live {guard.live}, rss {rss()} MiB", flush=True)
if os.environ.get("RECYCLE_AFTER"):
    import gc, mmap
    from gfrpc.transport.endpoint import Endpoint
    from gfrpc.transport.limits import BODY_POOL
    eps = [o for o in gc.get_objects() if isinstance(o, Endpoint)]
    print(f"after: endpoints alive {len(eps)} (closed {sum(e.closed for e in eps)}), live {guard.live}, "
          f"held {budget.total>>20} MiB, pool {BODY_POOL._bytes>>20} MiB, rss {rss()} MiB", flush=True)
    if os.environ.get("RECYCLE_AFTER") == "2":
        closed = [e for e in eps if e.closed]
        if closed:
            e = closed[0]
            del eps
            for r in gc.get_referrers(e):
                if r is closed: continue
                print("referrer:", type(r), (list(r.keys())[:5] if isinstance(r, dict) else repr(r)[:300]))
                if type(r).__name__ in ("dict",):
                    for rr in gc.get_referrers(r):
                        print("   referrer of dict:", type(rr), repr(rr)[:200])
os._exit(0)

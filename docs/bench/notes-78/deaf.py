"""What can peers that never read their replies make a server hold, and what do honest clients
see meanwhile? An RpcServer with a brick's default limits (16 MiB of replies per connection;
with the change, 256 MiB in all) on `sharded` ×2, serving one procedure that, like a READ,
predicts and returns a 1 MiB reply. DEAF connections from ATTACKER (each with an 8 KiB receive
window) pipeline 32 calls and read nothing; then RATE more such connections a second, for
SECONDS. HONEST clients on 127.0.0.1 call and read, one call at a time each. Prints every 3 s
what is reserved (with the change), the RSS and the open connections, then the honest rate and
latencies.

python deaf.py DEAF RATE HONEST SECONDS [ATTACKER]"""
import logging, os, socket, statistics, sys, threading, time
logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)6.0f %(message)s")
from gfrpc.rpc import RpcServer
from gfrpc.rpc.server import Procedure, Program
from gfrpc.transport import ServerLimits, make_poller
from gfrpc.wire import rpcmsg
from gfrpc.wire.record import record_mark

DEAF, RATE, HONEST, SECONDS = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ATTACKER = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.2"
PROG, VERS, SIZED, REPLY = 0x20000003, 1, 1, 1 << 20
poller = make_poller("sharded", event_threads=2); poller.start()
server = RpcServer(poller, limits=ServerLimits())
PATTERN = b"r" * REPLY  # each reply a fresh copy, as a READ's (bytes(n) would be untouched zero pages)
server.register(Program(PROG, VERS, "deaf", {SIZED: Procedure("SIZED", lambda r: bytes(memoryview(PATTERN)), reply_size=lambda a: REPLY)}))
lst = server.listen("127.0.0.1:0")
addr = (lst.address.host, lst.address.port)

def call(xid: int) -> bytes:
    body = rpcmsg.encode_call(xid, PROG, VERS, SIZED)
    return record_mark(len(body)) + body

def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) >> 10
    return 0

deaf: list[socket.socket] = []
def open_deaf() -> None:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.bind((ATTACKER, 0)); s.connect(addr); s.sendall(b"".join(call(i) for i in range(32))); deaf.append(s)

stop = time.monotonic() + SECONDS
lat: list[float] = []
errors = [0]
def honest(k: int) -> None:
    s = socket.create_connection(addr); s.settimeout(120)
    xid = k << 20
    try:
        while time.monotonic() < stop:
            xid += 1; t = time.monotonic(); s.sendall(call(xid))
            head = b""
            while len(head) < 4:
                head += s.recv(4 - len(head))
            left = int.from_bytes(head, "big") & 0x7FFFFFFF
            while left:
                chunk = s.recv(min(left, 1 << 20))
                if not chunk: raise ConnectionError("closed")
                left -= len(chunk)
            lat.append(time.monotonic() - t)
    except OSError:
        errors[0] += 1

for _ in range(DEAF): open_deaf()
th = [threading.Thread(target=honest, args=(k,), daemon=True) for k in range(HONEST)]
t0 = time.monotonic()
for t in th: t.start()
def attacker() -> None:
    n = 0
    while time.monotonic() < stop:
        n += 1
        time.sleep(max(0.0, t0 + n / RATE - time.monotonic()))
        try: open_deaf()
        except OSError: pass
if RATE: threading.Thread(target=attacker, daemon=True).start()
peak = 0
while time.monotonic() < stop:
    time.sleep(3)
    r = rss(); peak = max(peak, r)
    held = getattr(getattr(server, "replies", None), "reserved", None)
    held_text = "-" if held is None else f"{held >> 20} MiB"
    print(f"{time.monotonic()-t0:4.0f} s: reserved {held_text}, rss {r} MiB, connections {server.guard.live}, deaf opened {len(deaf)}, honest calls {len(lat)}", flush=True)
for t in th: t.join(130)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(f"honest: {len(lat)} calls, {len(lat) * REPLY / 2**20 / SECONDS:.0f} MiB/s, median {statistics.median(lat) * 1e3 if lat else float('nan'):.1f} ms, "
      f"p99 {q(0.99) * 1e3:.0f} ms, max {lat[-1] * 1e3 if lat else float('nan'):.0f} ms, errors {errors[0]}; peak rss {peak} MiB", flush=True)
os._exit(0)

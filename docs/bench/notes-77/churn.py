"""Honest 1 MiB requests from one address while an attacker on another address fills the
incomplete-record budget and keeps taking the finishers' places with fresh connections whose
records are nearer to whole than the honest ones, and stall (a brick's default limits: 256 MiB
budget, 64 MiB slack, finish-timeout 5 s, frame-timeout 60 s). Prints the honest records'
latency percentiles, MB/s and errors.

python churn.py FILLERS CHURN_PER_S SECONDS [ATTACKER_ADDR]   (attacker 127.0.0.2 by default;
give 127.0.0.1 to put the attacker on the honest clients' address)"""
import socket, sys, threading, time
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from lean import Lean
from gfrpc import transport
from gfrpc.transport import ConnectionGuard, ServerLimits, make_poller
from gfrpc.wire.record import record_mark

FILLERS, CHURN, SECONDS = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
ATTACKER = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.2"
HONEST = 16
poller = make_poller("sharded", event_threads=2); poller.start()
guard = ConnectionGuard(ServerLimits())
lst = transport.listen("127.0.0.1:0", poller=poller, handler_factory=Lean, guard=guard)
addr = (lst.address.host, lst.address.port)
budget = guard.budget
bad: list[socket.socket] = []

def attacker_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((ATTACKER, 0))
    s.connect(addr)
    return s

t0 = time.monotonic()
for i in range(FILLERS):
    s = attacker_socket(); s.sendall(record_mark(1 << 20) + b"f" * (900 << 10)); bad.append(s)
while budget.total < min(FILLERS * (900 << 10), budget.limit) * 0.98 and time.monotonic() - t0 < 30:
    time.sleep(0.05)
print(f"fill in {time.monotonic()-t0:.1f} s: held {budget.total>>20} MiB, finishing {budget.finishing}, paused {budget.paused}", flush=True)
stop = time.monotonic() + SECONDS
churned = [0]
def churn() -> None:
    # fresh records of 320 KiB with 256 KiB sent: 64 KiB from whole, nearer than an honest
    # 1 MiB record paused after its first read; they stall there
    next_t = time.monotonic()
    while time.monotonic() < stop:
        try:
            s = attacker_socket(); s.sendall(record_mark(320 << 10) + b"c" * (256 << 10)); bad.append(s)
            churned[0] += 1
        except OSError:
            pass
        next_t += 1.0 / CHURN
        time.sleep(max(0.0, next_t - time.monotonic()))
lat: list[float] = []; errs: list[str] = []
def honest(k: int) -> None:
    try:
        s = socket.create_connection(addr, timeout=120)
        body = b"x" * ((1 << 20) - 8)
        n = 0
        while time.monotonic() < stop:
            tag = b"h%02d%05d" % (k, n % 100000)
            t = time.monotonic()
            s.sendall(record_mark(1 << 20) + tag + body)
            want = 4 + 10; got = b""
            while len(got) < want:
                c = s.recv(want - len(got))
                if not c: raise EOFError("closed")
                got += c
            lat.append(time.monotonic() - t); n += 1
        s.close()
    except Exception as e:
        errs.append(repr(e))
start = time.monotonic()
th = [threading.Thread(target=honest, args=(k,)) for k in range(HONEST)]
if CHURN > 0:
    th.append(threading.Thread(target=churn))
for t in th: t.start()
for t in th: t.join()
el = time.monotonic() - start
lat.sort()
q = lambda p: lat[min(len(lat)-1, int(p * len(lat)))] if lat else float("nan")
print(f"fillers {FILLERS} churn {CHURN:g}/s from {ATTACKER} ({churned[0]} opened): honest records {len(lat)} in {el:.1f} s = {len(lat)/el*1.048576:.0f} MB/s; "
      f"latency p50 {q(.5)*1000:.0f} ms p99 {q(.99)*1000:.0f} ms max {q(1)*1000:.0f} ms; errors {len(errs)} {errs[:2]}; "
      f"at the end: held {budget.total>>20} MiB, paused {budget.paused}, finishing {budget.finishing}, live {guard.live}", flush=True)
for s in bad: s.close()
lst.close(); poller.stop()

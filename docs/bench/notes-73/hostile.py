"""Honest 1 MiB requests while peers fill the incomplete-record budget with records they never
end and hold the finishers' places with records they stall in (a brick's default limits:
256 MiB budget, 64 MiB slack, finish-timeout 5 s, frame-timeout 60 s). Prints the honest
records' latency percentiles and MB/s over the run."""
import socket, sys, threading, time, statistics
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3] / "tests" / "transport"))
from transport_support import Accepted, Recorder
from gfrpc import transport
from gfrpc.transport import ConnectionGuard, ServerLimits, make_poller
from gfrpc.wire.record import record_mark

FILLERS, HOGS, HONEST, SECONDS = int(sys.argv[1]), int(sys.argv[2]), 16, float(sys.argv[3])
finish = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
poller = make_poller("sharded", event_threads=2); poller.start()
guard = ConnectionGuard(ServerLimits(finish_timeout=finish))
lst = transport.listen("127.0.0.1:0", poller=poller, handler_factory=Accepted(lambda: Recorder(reply=True)), guard=guard)
addr = (lst.address.host, lst.address.port)
budget = guard.budget
bad = []
t0 = time.monotonic()
for i in range(FILLERS):
    s = socket.create_connection(addr); s.sendall(record_mark(1 << 20) + b"f" * (900 << 10)); bad.append(s)
while budget.total < min(FILLERS * (900 << 10), budget.limit) * 0.98 and time.monotonic() - t0 < 30:
    time.sleep(0.05)
for i in range(HOGS):
    s = socket.create_connection(addr); s.sendall(record_mark(8 << 20) + b"h" * 8); bad.append(s)
time.sleep(0.5)
print(f"attack set up in {time.monotonic()-t0:.1f} s: held {budget.total>>20} MiB, finishing {budget.finishing}, paused {budget.paused}", flush=True)
lat, errs = [], []
stop = time.monotonic() + SECONDS
def honest(k):
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
for t in th: t.start()
for t in th: t.join()
el = time.monotonic() - start
lat.sort()
q = lambda p: lat[min(len(lat)-1, int(p * len(lat)))] if lat else float("nan")
print(f"fillers {FILLERS} hogs {HOGS} finish-timeout {finish:g}: honest records {len(lat)} in {el:.1f} s = {len(lat)/el*1.048576:.0f} MB/s; "
      f"latency p50 {q(.5)*1000:.0f} ms p99 {q(.99)*1000:.0f} ms max {q(1)*1000:.0f} ms; errors {len(errs)} {errs[:2]}; "
      f"at the end: held {budget.total>>20} MiB, paused {budget.paused}, finishing {budget.finishing}", flush=True)
for s in bad: s.close()
lst.close(); poller.stop()

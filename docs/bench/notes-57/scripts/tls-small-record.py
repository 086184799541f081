import ssl, time, sys, tempfile
sys.path.insert(0, "/work/main/src")
from gfrpc.testing.certs import make_bench_context, write_shared_certs
d = tempfile.mkdtemp()
write_shared_certs(d)
cctx = make_bench_context(d, False); sctx = make_bench_context(d, True)
cin, cout, sin, sout = (ssl.MemoryBIO() for _ in range(4))
c = cctx.wrap_bio(cin, cout, server_side=False); s = sctx.wrap_bio(sin, sout, server_side=True)
for _ in range(10):
    for o in (c, s):
        try: o.do_handshake()
        except ssl.SSLWantReadError: pass
    if cout.pending: sin.write(cout.read())
    if sout.pending: cin.write(sout.read())
print(c.version(), c.cipher())
msg = bytes(200); rep = bytes(250)
buf = bytearray(65536)
cw, sr, sw, cr = c._sslobj.write, s._sslobj.read, s._sslobj.write, c._sslobj.read
N = 100000
for trial in range(3):
    t0 = time.process_time()
    for _ in range(N):
        cw(msg); sin.write(cout.read())
        sr(65536, buf)
        sw(rep); cin.write(sout.read())
        cr(65536, buf)
    t = (time.process_time() - t0) / N * 1e6
    print(f"round trip (2 records each way enc+dec): {t:.2f} us")
# individual costs
for name, f in [("write 200", lambda: cw(msg)), ("out.read", lambda: cout.read())]:
    pass
t0 = time.process_time()
for _ in range(N):
    cw(msg)
t1 = time.process_time(); data = cout.read(); t2=time.process_time()
print("encrypt 200B:", (t1-t0)/N*1e6, "us")
rec = len(data)//N
import itertools
t0 = time.process_time()
for i in range(N):
    sin.write(data[i*rec:(i+1)*rec])
    sr(65536, buf)
print("feed+decrypt 200B:", (time.process_time()-t0)/N*1e6, "us")

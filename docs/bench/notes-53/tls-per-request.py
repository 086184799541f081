"""Notes 53: a server's whole TLS work per small request in a warm loop (feed the request's
ciphertext, read it, write a 4.6 KiB reply, take its ciphertext), in microseconds."""
import ssl, time, trustme, os
ca = trustme.CA(); cert = ca.issue_cert("localhost")
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); cert.configure_cert(sctx)
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ca.configure_trust(cctx)
def pair():
    si, so, ci, co = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    s = sctx.wrap_bio(si, so, server_side=True); c = cctx.wrap_bio(ci, co, server_hostname="localhost")
    for _ in range(10):
        for o in (c, s):
            try: o.do_handshake()
            except ssl.SSLWantReadError: pass
        si.write(co.read()); ci.write(so.read())
    return s, si, so, c, ci, co
s, si, so, c, ci, co = pair()
req = os.urandom(500); rep = os.urandom(4600)
# client encrypts requests ahead
N = 20000
for size in (500, 4600):
    # server: feed + read + write + take
    reps=[]
    for rnd in range(5):
        recs=[]
        for i in range(N):
            c.write(req if size==500 else rep); recs.append(co.read())
        t=time.perf_counter()
        for r in recs:
            si.write(r); s.read(65536); s.write(rep); so.read()
        reps.append((time.perf_counter()-t)/N*1e6)
    print(size, "server feed+read+write+take us/op", sorted(reps)[2])

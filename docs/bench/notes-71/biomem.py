import ssl, os, sys, trustme, gc
def rss():
    for l in open('/proc/self/status'):
        if l.startswith('VmRSS'): return int(l.split()[1])//1024
ca = trustme.CA(); cert = ca.issue_cert("s.test")
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); cert.configure_cert(sctx)
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ca.configure_trust(cctx)
feed = int(sys.argv[1]) if len(sys.argv) > 1 else 256*1024
out_slice = int(sys.argv[2]) if len(sys.argv) > 2 else 0
pairs = []
def pump(a, b):
    d = a[2].read()
    if d: b[1].write(d)
def mk():
    ci, co = ssl.MemoryBIO(), ssl.MemoryBIO(); si, so = ssl.MemoryBIO(), ssl.MemoryBIO()
    c = cctx.wrap_bio(ci, co, server_hostname="s.test"); s = sctx.wrap_bio(si, so, server_side=True)
    C, S = (c, ci, co), (s, si, so)
    for _ in range(10):
        for o in (c, s):
            try: o.do_handshake()
            except ssl.SSLWantReadError: pass
        pump(C, S); pump(S, C)
    return C, S
r0 = rss()
data = b"x" * (1 << 20)
for i in range(1000):
    C, S = mk()
    C[0].write(data)
    ct = C[2].read()
    for off in range(0, len(ct), feed):
        S[1].write(ct[off:off+feed])
        while True:
            try:
                if not S[0].read(1 << 20): break
            except ssl.SSLWantReadError: break
    if out_slice:
        for off in range(0, len(data), out_slice):
            S[0].write(data[off:off+out_slice]); S[2].read()
    pairs.append(S)  # keep the server side alive, idle
    del C
gc.collect()
print("feed", feed, "reply slices", out_slice, "RSS MB before", r0, "after 1000 idle server sessions", rss())

"""Performance notes 71: what 1,000 idle client TLS sessions keep after each encrypted one
1 MiB part, whole or in slices (OpenSSL's memory BIOs keep their largest capacity)."""
import gc
import ssl
import sys

import trustme


def rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


ca = trustme.CA()
cert = ca.issue_cert("s.test")
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
cert.configure_cert(sctx)
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ca.configure_trust(cctx)
piece = int(sys.argv[1])  # plaintext per TLS write (1 MiB: whole)
data = b"x" * (1 << 20)


def pump(src, dst) -> None:
    d = src[2].read()
    if d:
        dst[1].write(d)


def handshake():
    ci, co, si, so = (ssl.MemoryBIO() for _ in range(4))
    c = (cctx.wrap_bio(ci, co, server_hostname="s.test"), ci, co)
    s = (sctx.wrap_bio(si, so, server_side=True), si, so)
    for _ in range(10):
        for o in (c[0], s[0]):
            try:
                o.do_handshake()
            except ssl.SSLWantReadError:
                pass
        pump(c, s)
        pump(s, c)
    return c


r0 = rss()
keep = []
for _ in range(1000):
    c = handshake()
    for off in range(0, len(data), piece):
        c[0].write(data[off : off + piece])
        c[2].read()  # the ciphertext goes to the socket
    keep.append(c)
gc.collect()
print(f"client pieces {piece}: RSS MB before {r0}, after 1000 idle client sessions {rss()}")

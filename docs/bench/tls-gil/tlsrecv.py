"""Two receiver threads under one GIL: MemoryBIO (the endpoint's way) against SSLSocket.

Usage: python tlsrecv.py MODE [--conns N] [--mib M]
MODE: bio | sock.  A sender process (forked) writes M MiB over each of N TLS connections in
1 MiB sendall()s; the receiver runs 2 threads, each polling N/2 connections with its own
epoll, level-triggered, reading until the socket is empty (4 reads of 256 KiB at most per
event), and decrypting into a 1 MiB bytearray (as the brick decrypts into a record).
Prints MiB/s (wall) and the receiver's CPU per GiB.
"""
import os, select, socket, ssl, sys, threading, time, resource, argparse, tempfile
import trustme

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=("bio", "sock"))
ap.add_argument("--conns", type=int, default=8)
ap.add_argument("--mib", type=int, default=256)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

ca = trustme.CA()
cert = ca.issue_cert("server")
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
cert.configure_cert(sctx)
sctx.num_tickets = 0
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ca.configure_trust(cctx)

lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(64)
port = lsock.getsockname()[1]
CHUNK = b"x" * (1 << 20)

pid = os.fork()
if pid == 0:
    lsock.close()
    def send_one():
        s = cctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="server")
        for _ in range(a.mib):
            s.sendall(CHUNK)
        s.unwrap() if False else None
        s.close()
    ts = [threading.Thread(target=send_one) for _ in range(a.conns)]
    for t in ts: t.start()
    for t in ts: t.join()
    os._exit(0)

conns = []
for _ in range(a.conns):
    c, _ = lsock.accept()
    conns.append(c)

class Conn:
    pass

def setup(c):
    k = Conn()
    k.got = 0
    if a.mode == "sock":
        s = sctx.wrap_socket(c, server_side=True)  # blocking handshake
        s.setblocking(False)
        k.s = s
    else:
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = sctx.wrap_bio(inc, out, server_side=True)
        c.setblocking(True)
        while True:
            try:
                obj.do_handshake(); break
            except ssl.SSLWantReadError:
                if out.pending: c.sendall(out.read())
                data = c.recv(65536)
                inc.write(data)
        if out.pending: c.sendall(out.read())
        c.setblocking(False)
        k.s, k.inc, k.obj = c, inc, obj._sslobj
    return k

ks = [setup(c) for c in conns]
total = a.conns * a.mib << 20
lease = None

def run(mine):
    ep = select.epoll()
    by = {}
    for k in mine:
        ep.register(k.s.fileno(), select.EPOLLIN)
        by[k.s.fileno()] = k
    rec = bytearray(1 << 20)
    rv = memoryview(rec)
    lease = bytearray(256 << 10)
    lv = memoryview(lease)
    left = len(mine)
    while left:
        for fd, ev in ep.poll(1.0):
            k = by[fd]
            for _ in range(4):
                if a.mode == "sock":
                    try:
                        n = k.s.recv_into(rv)
                    except ssl.SSLWantReadError:
                        break
                    if n == 0:
                        ep.unregister(fd); left -= 1; break
                    k.got += n
                    # more plaintext may wait in OpenSSL's buffer: keep reading
                    while k.s.pending():
                        n = k.s.recv_into(rv)
                        k.got += n
                else:
                    try:
                        n = k.s.recv_into(lv)
                    except BlockingIOError:
                        break
                    if n == 0:
                        ep.unregister(fd); left -= 1; break
                    k.inc.write(lv[:n])
                    read, inc = k.obj.read, k.inc
                    try:
                        while True:
                            m = read(len(rv), rv)
                            if not m: break
                            k.got += m
                            if not inc.pending and not k.obj.pending(): break
                    except ssl.SSLWantReadError:
                        pass
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                        pass
                    if n < len(lv): break

r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
groups = [ks[i::a.threads] for i in range(a.threads)]
th = [threading.Thread(target=run, args=(g,)) for g in groups]
for t in th: t.start()
for t in th: t.join()
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
os.waitpid(pid, 0)
got = sum(k.got for k in ks)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(f"{a.mode} threads={a.threads} conns={a.conns}: {got/2**20/wall:7.0f} MiB/s  recv CPU {cpu/(got/2**30):.3f} s/GiB  ({got>>20} MiB, wall {wall:.2f}s, cpu {cpu:.2f}s)")

"""Receiver CPU per GiB: SSLSocket.recv_into (socket BIO) vs recv + MemoryBIO + SSLObject.read. Sender in a child process."""
import os, socket, ssl, sys, time, resource, threading
T="/tmp/s16"
def sctx():
    c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(T+"/brick/glusterfs.pem",T+"/brick/glusterfs.key"); return c
def cctx():
    c=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname=False; c.verify_mode=ssl.CERT_NONE; return c
TOTAL=1<<30
def sender(port):
    s=socket.create_connection(("127.0.0.1",port)); ss=cctx().wrap_socket(s)
    buf=memoryview(bytes(1<<20)); sent=0
    while sent<TOTAL:
        ss.sendall(buf); sent+=len(buf)
    ss.recv(1); ss.close(); os._exit(0)
def cpu(): r=resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime+r.ru_stime
mode=sys.argv[1]
ls=socket.socket(); ls.bind(("127.0.0.1",0)); ls.listen(1); port=ls.getsockname()[1]
if os.fork()==0: ls.close(); sender(port)
c,_=ls.accept()
buf=bytearray(1<<20); mv=memoryview(buf); got=0
if mode=="sock":
    ss=sctx().wrap_socket(c,server_side=True)
    t0=time.monotonic(); c0=cpu()
    while got<TOTAL:
        n=ss.recv_into(mv); got+=n
    c1=cpu(); el=time.monotonic()-t0; ss.send(b"x")
else:
    inc,out=ssl.MemoryBIO(),ssl.MemoryBIO(); o=sctx().wrap_bio(inc,out,server_side=True)
    raw=bytearray(256<<10); rv=memoryview(raw)
    while True:
        try: o.do_handshake(); break
        except ssl.SSLWantReadError:
            if out.pending: c.sendall(out.read())
            n=c.recv_into(rv); inc.write(rv[:n])
    if out.pending: c.sendall(out.read())
    rd=o._sslobj.read; pend=o._sslobj.pending
    t0=time.monotonic(); c0=cpu()
    while got<TOTAL:
        n=c.recv_into(rv); inc.write(rv[:n])
        pos=0
        while True:
            try: k=rd(len(mv)-pos, mv[pos:])
            except ssl.SSLWantReadError: break
            got+=k; pos+=k
            if pos>=len(mv): pos=0
            if not inc.pending and not pend(): break
    c1=cpu(); el=time.monotonic()-t0
    o.write(b"x"); c.sendall(out.read())
os.wait()
print(f"{mode:5s} recv CPU {1e6*(c1-c0)/(TOTAL>>20):.0f} us/MiB wall {1e6*el/(TOTAL>>20):.0f} us/MiB")

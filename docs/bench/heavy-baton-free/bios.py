"""Sender CPU per MiB: SSLSocket.sendall (socket BIO) vs SSLObject.write 64 KiB slices + MemoryBIO read + sendall. Receiver in a child."""
import os, socket, ssl, sys, time, resource
T="/tmp/s16"
def sctx():
    c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(T+"/brick/glusterfs.pem",T+"/brick/glusterfs.key"); return c
def cctx():
    c=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname=False; c.verify_mode=ssl.CERT_NONE; return c
TOTAL=1<<30
def receiver(port):
    s=socket.create_connection(("127.0.0.1",port)); ss=sctx().wrap_socket(s,server_side=True)
    buf=bytearray(1<<20); got=0
    while got<TOTAL: got+=ss.recv_into(buf)
    ss.send(b"x"); ss.close(); os._exit(0)
def cpu(): r=resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime+r.ru_stime
mode=sys.argv[1]; sl=int(sys.argv[2]) if len(sys.argv)>2 else 64
ls=socket.socket(); ls.bind(("127.0.0.1",0)); ls.listen(1); port=ls.getsockname()[1]
if os.fork()==0: ls.close(); c,_=ls.accept() if False else (None,None); receiver(port)
c,_=ls.accept()
data=memoryview(bytes(1<<20)); sent=0
if mode=="sock":
    ss=cctx().wrap_socket(c)
    t0=time.monotonic(); c0=cpu()
    while sent<TOTAL: ss.sendall(data); sent+=len(data)
    c1=cpu(); el=time.monotonic()-t0; ss.recv(1)
else:
    inc,out=ssl.MemoryBIO(),ssl.MemoryBIO(); o=cctx().wrap_bio(inc,out)
    while True:
        try: o.do_handshake(); break
        except ssl.SSLWantReadError:
            if out.pending: c.sendall(out.read())
            inc.write(c.recv(65536))
    if out.pending: c.sendall(out.read())
    w=o._sslobj.write; S=sl<<10
    t0=time.monotonic(); c0=cpu()
    while sent<TOTAL:
        for st in range(0,len(data),S):
            w(data[st:st+S]); c.sendall(out.read())
        sent+=len(data)
    c1=cpu(); el=time.monotonic()-t0
    while True:
        try: o.read(1); break
        except ssl.SSLWantReadError: inc.write(c.recv(65536))
os.wait()
print(f"{mode:5s} {sl} send CPU {1e6*(c1-c0)/(TOTAL>>20):.0f} us/MiB wall {1e6*el/(TOTAL>>20):.0f} us/MiB")

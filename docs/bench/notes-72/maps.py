"""Performance notes 72: a TLS brick's largest mappings with 1,000 tls-1m connections open
and 3 s after they closed (/proc/PID/smaps). Extra arguments go to the brick."""
import os, socket, subprocess, sys, tempfile, time
from gfrpc.bench import idle
from gfrpc.tls.options import TLSOptions, make_context
wd = tempfile.mkdtemp()
subprocess.run([sys.executable, "-m", "gfrpc.cli", "certs", os.path.join(wd, "tls"), "--cn", "brick"], check=True, stdout=subprocess.DEVNULL)
extra = ["--handshake-timeout=0", "--first-request-timeout=0", "--frame-timeout=0"] + sys.argv[1:]
proc, port = idle._start_brick(wd, "sharded", True, extra)
ctx = make_context(TLSOptions.from_dir(os.path.join(wd, "tls")), server_side=False)
def maps(tag):
    rows = []
    cur = None
    for line in open(f"/proc/{proc.pid}/smaps"):
        parts = line.split()
        if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
            cur = [parts[0], parts[5] if len(parts) > 5 else "[anon]", 0]
            rows.append(cur)
        elif parts[0] == "Rss:":
            cur[2] = int(parts[1])
    rows.sort(key=lambda r: -r[2])
    tot = sum(r[2] for r in rows)
    print(tag, "total rss MB", tot // 1024, [(r[1], r[2] // 1024) for r in rows[:6]])
time.sleep(0.5); maps("start")
socks = []
for i in range(1000):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    idle._big_request(s, i + 1)
    socks.append(s)
time.sleep(1); maps("open")
for s in socks: s.close()
socks.clear()
time.sleep(3); maps("closed")
proc.terminate(); proc.wait()

"""Sample every gfrpc brick's threads' schedstat + process ctxt switches every 50 ms; write JSON lines."""
import os, sys, time, json, subprocess
out = open(sys.argv[1], "w")
stop = time.time() + float(sys.argv[2])
while time.time() < stop:
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try:
            cmd = open(f"/proc/{pid}/cmdline","rb").read()
        except OSError: continue
        if b"gfrpc.cli\0brick" not in cmd: continue
        rec = {"t": time.time(), "pid": int(pid), "threads": {}}
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                s = open(f"/proc/{pid}/task/{tid}/schedstat").read().split()
                st = open(f"/proc/{pid}/task/{tid}/status").read()
                v = int(st.split("voluntary_ctxt_switches:")[1].split()[0]); nv = int(st.split("nonvoluntary_ctxt_switches:")[1].split()[0])
                rec["threads"][tid] = [int(s[0]), int(s[1]), int(s[2]), v, nv]
        except (OSError, IndexError): continue
        out.write(json.dumps(rec) + "\n")
    time.sleep(0.05)

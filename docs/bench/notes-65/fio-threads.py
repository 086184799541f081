# Run a command and sum, by thread name, the CPU of every thread of every fio process seen (every
# 0.1 s, /proc/PID/task/TID/schedstat); usage: python3 fio-threads.py gfrpc bench ...
import os, sys, time, subprocess, collections
cmd=sys.argv[1:]
proc=subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seen={}  # tid -> (comm, cpu_ns)
while proc.poll() is None:
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try:
            if open(f'/proc/{pid}/comm').read().strip()!='fio': continue
            for tid in os.listdir(f'/proc/{pid}/task'):
                try:
                    c=open(f'/proc/{pid}/task/{tid}/comm').read().strip()
                    ns=int(open(f'/proc/{pid}/task/{tid}/schedstat').read().split()[0])
                    seen[int(tid)]=(c,ns)
                except OSError: pass
        except OSError: pass
    time.sleep(0.1)
agg=collections.Counter()
for c,ns in seen.values(): agg[c]+=ns
tot=sum(agg.values())
print('fio threads total CPU %.2f s'%(tot/1e9))
for c,ns in agg.most_common(8): print('  %-16s %6.2f s'%(c,ns/1e9))

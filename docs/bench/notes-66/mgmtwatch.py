# Notes 66: the CPU of the brick, glusterfsd and the management daemons (gfrpc mgmtd, glusterd) every 0.2 s.
# Usage: mgmtwatch.py OUT STOPFILE
import os,sys,time
HZ=os.sysconf('SC_CLK_TCK')
out=open(sys.argv[1],'w'); stop=sys.argv[2]
def find():
    r={}
    for d in os.listdir('/proc'):
        if not d.isdigit(): continue
        try:
            c=open(f'/proc/{d}/cmdline').read().split('\0')
        except OSError: continue
        if len(c)>3 and c[1:3]==['-m','gfrpc.cli'] and c[3] in ('brick','mgmtd'): r[int(d)]=c[3]
        elif c and c[0].endswith('glusterd'): r[int(d)]='glusterd'
        elif c and 'glusterfsd' in c[0]: r[int(d)]='glusterfsd'
    return r
def cpu(pid):
    s=open(f'/proc/{pid}/stat').read(); f=s[s.rindex(')')+2:].split(); return (int(f[11])+int(f[12]))/HZ
prev={}
while not os.path.exists(stop):
    t=time.time(); now={}
    for pid,name in find().items():
        try: now[(pid,name)]=cpu(pid)
        except OSError: pass
    out.write('%.2f '%t+' '.join('%s:%.2f'%(n,now[(p,n)]-prev.get((p,n),now[(p,n)])) for (p,n) in now)+'\n'); out.flush()
    prev=now; time.sleep(0.2)

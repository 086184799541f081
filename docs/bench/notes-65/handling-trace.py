# Print a handling trace (handling-trace.diff writes it) around the first big work: wall, thread CPU,
# run-queue wait and the rest per handling; usage: python3 handling-trace.py TRACE SECONDS [x]
import sys
rows=[l.split() for l in open(sys.argv[1])]
rows=[tuple(float(x) for x in r[:4])+tuple(int(x) for x in r[4:]) for r in rows]
fb=min(r[0] for r in rows if r[9]>0)
rows.sort()
lim=float(sys.argv[2]) if len(sys.argv)>2 else 0.1
tot=[0,0,0,0]
for r in rows:
    if r[0] < fb-0.03 or r[0] > fb+lim: continue
    wall=(r[1]-r[0])*1000; cpu=r[2]*1000; rq=r[3]*1000
    if r[6]==0: tot[0]+=wall; tot[1]+=cpu; tot[2]+=rq; tot[3]+=1
    if len(sys.argv)>3: print('%7.1f wall %6.2f cpu %5.2f rq %5.2f other %5.2f sh%d fd%3d heavy%d big%d'%((r[0]-fb)*1000,wall,cpu,rq,wall-cpu-rq,r[4],r[5],r[6],r[9]))
print('light handlings: n %d wall %.1f cpu %.1f runqueue %.1f other(blocked) %.1f ms'%(tot[3],tot[0],tot[1],tot[2],tot[0]-tot[1]-tot[2]))

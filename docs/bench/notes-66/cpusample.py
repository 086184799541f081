# Notes 66: /proc/stat every 0.2 s (user, system, idle, ... shares of the whole machine) until STOPFILE exists.
# Usage: cpusample.py OUT STOPFILE
import time,sys
out=open(sys.argv[1],'w')
stop=sys.argv[2]
import os
def read():
    f=open('/proc/stat').readline().split()[1:]
    return [int(x) for x in f]
prev=read(); 
while not os.path.exists(stop):
    time.sleep(0.2)
    cur=read(); d=[c-p for c,p in zip(cur,prev)]; prev=cur
    tot=sum(d) or 1
    # user nice system idle iowait irq softirq steal
    out.write('%.2f user %.2f sys %.2f idle %.2f iowait %.2f irq %.2f soft %.2f steal %.2f\n'%(time.time(),d[0]/tot,d[2]/tot,d[3]/tot,d[4]/tot,d[5]/tot,d[6]/tot,d[7]/tot)); out.flush()

# fio's samples inside the I/O windows: perf record -a -g -F 999 -k CLOCK_REALTIME around a bench whose
# fio jobs wrote latency logs with --log_unix_epoch=1 (fio-latency-log.diff); the windows run from the
# first write's start to the last write's end of each run. usage: python3 fio-in-window.py PERF.DATA LATDIR
import sys, glob, subprocess, collections, re
data, latdir = sys.argv[1], sys.argv[2]
wins=[]
tags=collections.defaultdict(list)
for f in glob.glob(latdir+'/*_clat.*.log'):
    tags[f.split('/')[-1].split('_clat')[0]].append(f)
for tag,fs in tags.items():
    st=[];en=[]
    for f in fs:
        rows=[l.split(',') for l in open(f)]
        st.append(int(rows[0][0])-int(rows[0][1])/1e6); en.append(int(rows[-1][0]))
    wins.append((min(st)/1e3, max(en)/1e3))
wins.sort()
print('windows', [(round(b-a,3)) for a,b in wins])
p=subprocess.Popen(['perf','script','-i',data,'-F','comm,pid,tid,time,ip,sym,dso','--no-inline'],stdout=subprocess.PIPE,text=True,errors='replace')
hdr=re.compile(r'^\s*(\S.*?)\s+(\d+)/(\d+)\s+([\d.]+):\s*$')
samples=[]; cur=None
for line in p.stdout:
    if not line.strip(): cur=None; continue
    m=hdr.match(line.rstrip())
    if m:
        cur=[m.group(1),int(m.group(2)),float(m.group(4)),None,[]]; samples.append(cur); continue
    if cur is not None:
        parts=line.strip().split(None,1); rest=parts[1] if len(parts)>1 else ''
        mm=re.match(r'(.*) \((.*)\)$',rest)
        fr=(mm.group(1),mm.group(2)) if mm else (rest,'?')
        if cur[3] is None: cur[3]=fr
        cur[4].append(fr[0])
comms=collections.defaultdict(set)
for c,pid,t,l,ch in samples: comms[pid].add(c)
fio={pid for pid,cs in comms.items() if 'fio' in cs}
def inw(t): return any(a<=t<=b for a,b in wins)
sub=[s for s in samples if s[1] in fio and inw(s[2])]
allin=[s for s in samples if inw(s[2])]
print('samples in windows: all', len(allin), 'fio', len(sub))
bycomm=collections.Counter(s[0] for s in sub)
print(' by thread:', ', '.join('%s %d'%(k,v) for k,v in bycomm.most_common(5)))
def cat(sym,dso):
    if 'kernel' in dso: return 'kernel'
    for k in ('libcrypto','libssl','libc','libglusterfs','socket.so','libgfrpc','fio','vdso'):
        if k in dso: return k
    return dso.split('/')[-1]
cc=collections.Counter(cat(*s[3]) for s in sub if s[3])
print(' by dso:', ', '.join('%s %d'%(k,v) for k,v in cc.most_common(8)))
sc=collections.Counter(s[3][0] for s in sub if s[3])
for k,v in sc.most_common(22): print('   %5d %s'%(v,k[:70]))
# inclusive: samples whose chain contains key functions
keys=['tcp_sendmsg','tcp_recvmsg','ep_poll','__schedule','futex','SSL_write','SSL_read','try_to_wake_up','tcp_v4_rcv','__alloc_pages','alloc_pages','skb_page_frag_refill','sk_stream_wait_memory','copy_page_from_iter','_copy_from_iter','__x64_sys_epoll_ctl','__x64_sys_epoll_wait','__x64_sys_write','__x64_sys_read','__x64_sys_futex','__x64_sys_writev','__x64_sys_readv','tcp_ack','tcp_clean_rtx_queue','kfree_skb','__kfree_skb','skb_release_data','tcp_rcv_established']
inc=collections.Counter()
for s in sub:
    ch=set(s[4])
    for k in keys:
        if any(k==x or x.startswith(k) for x in ch): inc[k]+=1
print(' inclusive:', ', '.join('%s %d'%(k,inc[k]) for k in keys if inc[k]))
ts=[s for s in sub if any(x.startswith('tcp_sendmsg') for x in s[4])]
lc=collections.Counter(s[3][0] for s in ts if s[3])
print(' tcp_sendmsg leaves:', ', '.join('%s %d'%(k[:40],v) for k,v in lc.most_common(14)))
# immediate child under tcp_sendmsg_locked
ch=collections.Counter()
for s in ts:
    c=s[4]
    for i,x in enumerate(c):
        if x.startswith('tcp_sendmsg_locked'):
            ch[c[i-1] if i>0 else 'self']+=1; break
print(' under tcp_sendmsg_locked:', ', '.join('%s %d'%(k[:40],v) for k,v in ch.most_common(10)))
pp=[s for s in sub if any(x.startswith('__tcp_push_pending_frames') for x in s[4])]
lc=collections.Counter(s[3][0] for s in pp if s[3])
print(' push leaves:', ', '.join('%s %d'%(k[:40],v) for k,v in lc.most_common(16)))
inc2=collections.Counter()
for s in pp:
    seen=set()
    for x in s[4]:
        if x in seen: continue
        seen.add(x); inc2[x]+=1
print(' push inclusive:', ', '.join('%s %d'%(k[:36],v) for k,v in inc2.most_common(40)))

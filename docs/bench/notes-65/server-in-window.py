# The server process's samples in the same windows (fio-in-window.py); usage: python3 server-in-window.py PERF.DATA LATDIR gfrpc|glusterfsd
# (run it from the directory that holds fio-in-window.py, which it reads)
import sys
exec(open('fio-in-window.py').read().split("sub=[s for s in samples if s[1] in fio and inw(s[2])]")[0])
kind=sys.argv[3]
if kind=='glusterfsd': srv={pid for pid,cs in comms.items() if 'glusterfsd' in cs}
else: srv={pid for pid,cs in comms.items() if any('python' in c for c in cs) and pid not in fio}
sub=[s for s in samples if s[1] in srv and inw(s[2])]
import collections
by=collections.Counter(s[1] for s in sub); top=by.most_common(1)[0][0]
sub=[s for s in sub if s[1]==top]
print('server pid', top, 'samples in windows', len(sub))
keys=['__tcp_transmit_skb','tcp_write_xmit','tcp_v4_rcv','tcp_rcv_established','tcp_ack','tcp_recvmsg','tcp_cleanup_rbuf','__tcp_send_ack','tcp_data_snd_check','_copy_to_iter','copy_folio_from_iter_atomic','SSL_read','__x64_sys_pwrite64','__x64_sys_recvfrom','__x64_sys_read']
inc=collections.Counter()
for s in sub:
    ch=set(s[4])
    for k in keys:
        if any(k==x or x.startswith(k) for x in ch): inc[k]+=1
print(' inclusive:', ', '.join('%s %d'%(k,inc[k]) for k in keys))

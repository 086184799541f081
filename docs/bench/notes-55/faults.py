import os, sys, time, json
# sample minflt/majflt/cpu of brick processes until stopped; record max per pid
seen = {}
stop = sys.argv[1]
while not os.path.exists(stop):
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            cmd = open(f'/proc/{p}/cmdline','rb').read().replace(b'\0',b' ').decode()
            if not (('brick' in cmd and 'gfrpc' in cmd) or 'glusterfsd' in cmd or cmd.startswith('fio')): continue
            f = open(f'/proc/{p}/stat').read().rsplit(')',1)[1].split()
            minflt, majflt, ut, st = int(f[7]), int(f[9]), int(f[11]), int(f[12])
            seen[p] = (cmd[:100], minflt, majflt, ut/100, st/100)
        except Exception:
            pass
    time.sleep(0.02)
json.dump(seen, open(sys.argv[2],'w'), indent=1)

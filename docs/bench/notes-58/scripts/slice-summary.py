import json, glob, statistics, sys
d0 = sys.argv[1] if len(sys.argv) > 1 else '/tmp/s/sl'
out = {}
for f in sorted(glob.glob(f'{d0}/*.json')):
    tag = f.split('/')[-1][:-5]
    d = json.load(open(f))
    for r in d['results']:
        if r['workload'] != 'smallfile' or r['server'] != 'gfrpc': continue
        ref = [x for x in d['results'] if x['workload']=='smallfile' and x['server']=='glusterfsd' and x['phase']==r['phase'] and x['tls']==r['tls']][0]
        out.setdefault((r['phase'], r['tls']), {}).setdefault(tag[0], []).append((tag, r['ratio_to_reference'], r['server_cpu_us_per_op'], ref['server_cpu_us_per_op']))
for key, g in sorted(out.items()):
    for k, v in sorted(g.items()):
        print(key, k, ' '.join(f'{t}:{x:.2f}({c:.0f}/{rc:.0f})' for t, x, c, rc in v), '| median %.2f' % statistics.median(x[1] for x in v))

import json, glob, statistics
rows = {}
for f in sorted(glob.glob('docs/bench/notes-57/eight/r*.json')):
    d = json.load(open(f))
    for r in d['results']:
        if r['workload'] != 'smallfile' or r['server'] != 'gfrpc': continue
        key = (r['phase'], r['tls'])
        ref = [x for x in d['results'] if x['workload']=='smallfile' and x['server']=='glusterfsd' and x['phase']==r['phase'] and x['tls']==r['tls']][0]
        cpu = (r['server_cpu_us_per_op'] or 0) / (ref['server_cpu_us_per_op'] or 1)
        rows.setdefault(key, []).append((f.split('/')[-1][:-5], r['ratio_to_reference'], cpu, r['server_cpu_us_per_op'], ref['server_cpu_us_per_op'], r['value'], ref['value']))
for key, v in sorted(rows.items()):
    rs = [x[1] for x in v]; cs = [x[2] for x in v]
    print(key, 'ratio', ' '.join(f'{x:.2f}' for x in rs), '| median %.2f' % statistics.median(rs), '| met %d/%d' % (sum(x >= 0.8 for x in rs), len(rs)))
    print('   cpu ratio', ' '.join(f'{x:.2f}' for x in cs), '| median %.2f' % statistics.median(cs), '| gfrpc us', ' '.join(f'{x[3]:.0f}' for x in v), '| gd', ' '.join(f'{x[4]:.0f}' for x in v))

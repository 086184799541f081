import json, statistics, sys
d = sys.argv[1]
def rows(tag):
    return {(r['kind'], r['tls'], r['connections']): r for r in json.load(open(f'{d}/{tag}.json'))['rows']}
W = [rows(t) for t in sys.argv[2].split(',')]
I = [rows(t) for t in sys.argv[3].split(',')]
print(f"{'cell':<24} {'workers MB/s':>16} {'inline MB/s':>16} {'i/w':>5} {'w/base':>12} {'i/base':>12} {'cpu w':>10} {'cpu i':>10}")
for key in W[0]:
    if key[0] == 'baseline': continue
    w = [x[key]['mb_per_s'] for x in W]; i = [x[key]['mb_per_s'] for x in I]
    wr = [x[key]['mbps_ratio'] for x in W]; ir = [x[key]['mbps_ratio'] for x in I]
    wc = [x[key]['cpu_s_per_gb'] for x in W]; ic = [x[key]['cpu_s_per_gb'] for x in I]
    f = lambda v: "/".join(f"{a:.0f}" for a in v)
    g = lambda v: "/".join(f"{a:.2f}" for a in v)
    print(f"{key[0]:<10} {'TLS' if key[1] else 'tcp'} {key[2]:>3}      {f(w):>16} {f(i):>16} {statistics.median(i)/statistics.median(w):5.2f} {g(wr):>12} {g(ir):>12} {g(wc):>10} {g(ic):>10}")

#!/bin/bash
# $1 = tag, $2 = nice value or "none"
cd /work/main
if [ "$2" != "none" ]; then /tmp/s/renice-loop.sh $2 & L=$!; fi
TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller single --event-threads 1 --tls off --files 200 --repeats 3 --json /tmp/s/sf-$1.json --quiet > /tmp/s/sf-$1.txt 2>&1
if [ -n "$L" ]; then kill $L; fi
python3 - <<PY
import json
d=json.load(open('/tmp/s/sf-$1.json'))
for r in d['results']:
    if r['workload']=='smallfile':
        print('$1', r['phase'], r['server'], round(r['value']), 'cpu/op', round(r['server_cpu_us_per_op'] or 0), 'busy', r['server_busy_cores'], r['client_busy_cores'], 'ratio', round(r.get('ratio_to_reference') or 0, 3))
PY

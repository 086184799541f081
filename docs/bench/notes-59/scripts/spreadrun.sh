#!/bin/bash
# n = as it is (light connections on the home shard), s = new connections spread by count (GFRPC_X_SPREAD=1)
cd /work/main
i=${START:-0}
for m in "$@"; do
  i=$((i+1))
  if [ "$m" = s ]; then export GFRPC_X_SPREAD=1; else unset GFRPC_X_SPREAD; fi
  PYTHONPATH=/tmp/s/wt/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 --json /tmp/s/spread/$m$i.json --quiet > /tmp/s/spread/$m$i.log 2>&1
  echo "$m$i rc $?" >> /tmp/s/spread/done.txt
done

#!/bin/bash
cd /work/main
i=${START:-0}
mkdir -p /tmp/s/parts
for m in "$@"; do
  i=$((i+1))
  if [ "$m" = x ]; then export GFRPC_X_NOPARTS=1; else unset GFRPC_X_NOPARTS; fi
  PYTHONPATH=/tmp/s/wt/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload seq-read --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls on --size 32M --repeats 3 --json /tmp/s/parts/$m$i.json --quiet > /tmp/s/parts/$m$i.log 2>&1
  echo "$m$i rc $? $(date +%T)" >> /tmp/s/parts/done.txt
done

#!/bin/bash
# the stat workload (gfrpc's client), o/n alternated as given
cd /work/main
i=${START:-0}
mkdir -p /tmp/s/st
for m in "$@"; do
  i=$((i+1))
  if [ "$m" = n ]; then T=/tmp/s/wt/src; else T=/tmp/s/old/src; fi
  PYTHONPATH=$T TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload stat --client gfrpc --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls both --repeats 3 --json /tmp/s/st/$m$i.json --quiet > /tmp/s/st/$m$i.log 2>&1
  echo "$m$i rc $?" >> /tmp/s/st/done.txt
done

#!/bin/bash
cd /work/main
for t in $TAGS; do
  case $t in t*) X=1;; *) X=0;; esac
  GFRPC_X_TURN=$X TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd \
    --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 --json /tmp/s/tn/$t.json --quiet > /tmp/s/tn/$t.txt 2>&1
  echo "$t done $(date +%H:%M:%S)"
done

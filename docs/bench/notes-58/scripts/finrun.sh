#!/bin/bash
# alternate the old tree (PYTHONPATH=/tmp/s/old/src) and this tree, smallfile default brick
cd /work/main
for t in $TAGS; do
  case $t in o*) PP=/tmp/s/old/src;; *) PP=/work/main/src;; esac
  PYTHONPATH=$PP TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd \
    --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 --json /tmp/s/fin/$t.json --quiet > /tmp/s/fin/$t.txt 2>&1
  echo "$t done $(date +%H:%M:%S)"
done

#!/bin/bash
# the tree before d51c05e (old) and HEAD (new), alternated: the paths the change touches, writing from bytes
cd /work/main
for r in 1 2; do
  for t in old new; do
    if [ $t = old ]; then src=/tmp/old/src; else src=/work/main/src; fi
    PYTHONPATH=$src TMPDIR=/dev/shm timeout 1200 .venv/bin/gfrpc bench --workload seq-write --workload seq-read --client fio,gfrpc --server gfrpc --poller sharded --event-threads 2 --tls both --size 32M --repeats 3 --json /tmp/noreg/$t-r$r.json > /tmp/noreg/$t-r$r.txt 2>&1
  done
done

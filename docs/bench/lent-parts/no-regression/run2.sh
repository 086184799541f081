#!/bin/bash
# seq-read without TLS, gfrpc's client: the tree before d51c05e (old) and HEAD (new), alternated three times
cd /work/main
for r in 1 2 3; do
  for t in old new; do
    if [ $t = old ]; then src=/tmp/old/src; else src=/work/main/src; fi
    PYTHONPATH=$src TMPDIR=/dev/shm timeout 1200 .venv/bin/gfrpc bench --workload seq-read --client gfrpc,fio --server gfrpc --poller sharded --event-threads 2 --tls off --size 32M --repeats 3 --json /tmp/noreg/read-$t-r$r.json > /tmp/noreg/read-$t-r$r.txt 2>&1
  done
done

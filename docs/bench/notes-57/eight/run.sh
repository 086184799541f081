#!/bin/bash
# eight invocations of the default brick's smallfile rows against glusterfsd x2, TLS off and on
cd /work/main
for i in 1 2 3 4 5 6 7 8; do
  TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd \
    --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 \
    --json /tmp/s/sf8/r$i.json --quiet > /tmp/s/sf8/r$i.txt 2>&1
  echo "r$i rc $? $(date +%H:%M:%S)"
done

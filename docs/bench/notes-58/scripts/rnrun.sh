#!/bin/bash
# the default brick's smallfile rows against glusterfsd x2; r* tags with every brick thread at nice $NICE
mkdir -p /tmp/s/rn; cd /work/main
for t in $TAGS; do
  L=
  case $t in r*) /tmp/s/renice-all.sh $NICE & L=$!;; esac
  TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd \
    --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 --json /tmp/s/rn/$t.json --quiet > /tmp/s/rn/$t.txt 2>&1
  if [ -n "$L" ]; then kill $L; fi
  echo "$t done $(date +%H:%M:%S)"
done

#!/bin/bash
# $1 tag, $2 slice ms or none: the default brick's smallfile rows against glusterfsd x2
cd /work/main
L=
if [ "$2" != "none" ]; then /tmp/s/slice-loop.sh $2 & L=$!; fi
TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd \
  --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 \
  --json /tmp/s/sl/$1.json --quiet > /tmp/s/sl/$1.txt 2>&1
if [ -n "$L" ]; then kill $L; fi
echo "$1 done $(date +%H:%M:%S)"

#!/bin/bash
cd /work/main
i=${START:-0}
mkdir -p /tmp/s/seqp
for m in "$@"; do
  i=$((i+1))
  if [ "$m" = n ]; then T=/tmp/s/wt/src; else T=/tmp/s/old/src; fi
  PYTHONPATH=$T TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload seq-write --workload seq-read --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls off --size 32M --repeats 3 --json /tmp/s/seqp/$m$i.json --quiet > /tmp/s/seqp/$m$i.log 2>&1
  echo "$m$i rc $? $(date +%T)" >> /tmp/s/seqp/done.txt
done

#!/bin/bash
# n = as it is, h = home shard thread on the last CPU, a = every shard thread there
cd /work/main
i=${START:-10}
for m in "$@"; do
  i=$((i+1))
  case $m in p|h) export GFRPC_X_PIN_HOME=1;; a) export GFRPC_X_PIN_HOME=all;; *) unset GFRPC_X_PIN_HOME;; esac
  PYTHONPATH=/tmp/s/wt/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 --json /tmp/s/pin/$m$i.json --quiet > /tmp/s/pin/$m$i.log 2>&1
  echo "$m$i rc $?" >> /tmp/s/pin/done.txt
done

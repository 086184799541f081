#!/bin/bash
# Run in a scratch tree (/tmp/wt2) holding first-big-reply.diff with one more line in
# endpoint_output.py, `_DEFER = os.environ.get("GFRPC_X_DEFER", "1") == "1"`, guarding the
# deferral: GFRPC_X_DEFER=0 is the tree before. Notes 53.
# alternate GFRPC_X_DEFER=0/1, 3 rounds, seq-read TLS
cd /tmp/wt2
for r in 1 2 3; do
  for d in 0 1; do
    PYTHONPATH=/tmp/wt2/src GFRPC_X_DEFER=$d TMPDIR=/dev/shm timeout 1200 .venv/bin/gfrpc bench --workload seq-read --client fio,gfrpc --server gfrpc --poller sharded,pool --event-threads 2 --tls on --size 32M --repeats 3 --json /tmp/ab/read-d$d-r$r.json > /tmp/ab/read-d$d-r$r.txt 2>&1
  done
done

#!/bin/bash
# Run with a copy of the tree at this change in /tmp/abtree/src, with two environment switches
# added for the experiment: GFRPC_X_LEND=0 in endpoint_output.submit copies every part as
# before (owned), and GFRPC_X_BYTEARRAY=1 makes the bench's gfrpc client write from a
# bytearray instead of bytes (drive_gfrpc._seq_write). Notes 54.
# alternate GFRPC_X_LEND=0/1 (parts copied / lent), gfrpc's client writing from a bytearray
cd /work/main
for r in 1 2 3; do
  for l in 0 1; do
    PYTHONPATH=/tmp/abtree/src GFRPC_X_BYTEARRAY=1 GFRPC_X_LEND=$l TMPDIR=/dev/shm timeout 1200 .venv/bin/gfrpc bench --workload seq-write --client gfrpc --server gfrpc --poller sharded --event-threads 2 --tls both --size 32M --repeats 3 --json /tmp/abtree/w-l$l-r$r.json > /tmp/abtree/w-l$l-r$r.txt 2>&1
  done
done

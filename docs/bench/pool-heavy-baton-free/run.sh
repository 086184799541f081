#!/bin/bash
# alternated: main (the tree before) vs impl (/tmp/pw), pool x2, seq-write + seq-read, TLS both
cd /tmp/pb
for i in 1 2 3; do
  for arm in main impl; do
    if [ $arm = impl ]; then export PYTHONPATH=/tmp/pw/src; else export PYTHONPATH=/work/main/src; fi
    date +"%T start $i $arm"
    TMPDIR=/dev/shm /work/main/.venv/bin/gfrpc bench --workload seq-write --workload seq-read --client fio,gfrpc --server gfrpc,glusterfsd --poller pool --event-threads 2 --tls both --size 32M --repeats 3 --json /tmp/pb/p-$i-$arm.json --quiet > /tmp/pb/p-$i-$arm.txt 2>&1
    echo "rc $?"
  done
done
date +"%T done"

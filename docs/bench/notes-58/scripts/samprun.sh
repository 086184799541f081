#!/bin/bash
cd /work/main
for t in o1 n1 n2 o2; do for tls in off on; do
  case $t in o*) PP=/tmp/s/old/src;; *) PP=/work/main/src;; esac
  /work/main/.venv/bin/python /tmp/s/sampler.py /tmp/s/samp/$t-$tls.jsonl 120 & S=$!
  PYTHONPATH=$PP TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc --poller sharded --event-threads 2 --tls $tls --files 200 --repeats 1 --json /tmp/s/samp/$t-$tls.json --quiet > /tmp/s/samp/$t-$tls.txt 2>&1
  kill $S
  echo "$t $tls done $(date +%H:%M:%S)"
done; done

#!/bin/bash
cd /work/main
/work/main/.venv/bin/python /tmp/s/sampler.py /tmp/s/samp-$1.jsonl 100 & S=$!
TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc --poller single --event-threads 1 --tls off --files 200 --repeats 1 --json /tmp/s/sf1-$1.json --quiet > /tmp/s/sf1-$1.txt 2>&1
kill $S

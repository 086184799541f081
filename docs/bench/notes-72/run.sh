#!/bin/sh
# Performance notes 72: memory given back after a mass disconnect. Trees under /tmp/s/<tree>,
# run by PYTHONPATH: M = 602c8a9 (notes 71), T = M with limits.py's release_freed_memory.
set -e
cd "$(dirname "$0")/../../.."
B=.venv/bin/gfrpc
O=docs/bench/notes-72
# where a brick's memory is with 1,000 tls-1m connections open and 3 s after they closed
# (the largest mappings of /proc/PID/smaps); run once on M, once on T
PYTHONPATH=/tmp/s/M/src .venv/bin/python $O/maps.py
PYTHONPATH=/tmp/s/T/src .venv/bin/python $O/maps.py
# bench-idle, M T T M, then T once more with both pollers (trim-*.txt)
for t in M T T M; do
  PYTHONPATH=/tmp/s/$t/src $B bench-idle --connections 1000 --poller sharded --mode tcp --mode tls \
    --mode tls-1m | tee -a $O/trim-$t.txt
done
PYTHONPATH=/tmp/s/T/src $B bench-idle --connections 1000 --poller single --poller sharded \
  --mode tls-1m | tee -a $O/trim-T.txt
# the sweep at 1,000 TLS connections, M T T M (sweep/), and once more on T beside 24 (sweep-final.json)
for t in M T T M; do
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm $B bench --sweep-connections 1000 --tls on --size 32M \
    --poller single,sharded --event-threads 2 --repeats 3 --json $O/sweep/$t-$(date +%H%M%S).json --quiet
done
TMPDIR=/dev/shm $B bench --sweep-connections 24,1000 --tls on --size 32M --poller single,sharded \
  --event-threads 2 --repeats 3 --json $O/sweep-final.json --quiet

#!/bin/sh
# Performance notes 77: the finishers' slack counts what they read; reads are small while the
# budget is spent; turns by peer machine, then by who waited; stalled laggards are closed when
# their memory is needed. Trees, each a copy of `src` under /tmp/s/<tree> run by PYTHONPATH:
# old = 5a1c530 (`git archive 5a1c530 src`), new = the change (a copy of the work tree).
set -e
cd "$(dirname "$0")/../../.."
O=docs/bench/notes-77
F="pausing input\|closing conn\|disconnected\|stalled\|refusing"
# One peer's near-whole stalled records (out/recycle.txt):
for t in old new; do
  PYTHONPATH=/tmp/s/$t/src .venv/bin/python $O/recycle.py 300 400 16 30 2>&1 | grep -v "$F"
done
# Honest 1 MiB records from 127.0.0.1 while 127.0.0.2 (or 127.0.0.1) fills the budget and
# churns stalling records (out/churn.txt):
for args in "0 0 20" "300 0 20" "300 250 40" "300 250 40 127.0.0.1"; do
  for t in old new; do
    PYTHONPATH=/tmp/s/$t/src .venv/bin/python $O/churn.py $args 2>&1 | grep -v "$F"
  done
done
# The sweep at 1,000 TLS connections, the two trees alternated old new new old (sweep/*.json for
# the first version, sweep-fifo/ for the change as committed, run as "fifo"),
# summed up by sweep.py into out/sweep.txt):
for t in old new new old; do
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --sweep-connections 1000 --tls on \
    --size 32M --poller single,sharded --event-threads 2 --repeats 3 \
    --json $O/sweep/$t-$(date +%H%M%S).json --quiet
done
.venv/bin/python $O/sweep.py > $O/out/sweep.txt

#!/bin/sh
# Performance notes 70: gfrpc's client writing over 1,000 TLS connections into the gfrpc brick
# stalled; the incomplete-record budget's finishers. Trees, each a `git archive <commit> src`
# copy under /tmp/s/<tree> run by PYTHONPATH: A = b8aad09 (before the client's whole parts),
# K = 471eef5 (before this note), N = the budget's finishers (this note's commit, as a copy).
# Summary: python summary.py (summary.txt).
set -e
cd "$(dirname "$0")/../../.."
B=.venv/bin/gfrpc
O=docs/bench/notes-70

# The sweep with TLS, as issue 9 asks of every connection count: at 1,000 it failed
# (before-full-K.json, then 1000-A.json and 1000-K.json, one run each, one poller)
PYTHONPATH=/tmp/s/K/src TMPDIR=/dev/shm $B bench --sweep-connections 1,4,24,100,1000 --tls on \
  --size 32M --poller single,sharded --event-threads 2 --repeats 3 --json $O/before-full-K.json
for t in A K; do
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm $B bench --sweep-connections 1000 --tls on \
    --size 32M --poller single --repeats 1 --json $O/1000-$t.json
done

# With the finishers: 1,000 connections once (1000-N.json), the whole sweep (full-N.json),
# and N against K at 1-100 connections, alternated K N N K (a-*, b-*)
PYTHONPATH=/tmp/s/N/src TMPDIR=/dev/shm $B bench --sweep-connections 1000 --tls on --size 32M \
  --poller single,sharded --event-threads 2 --repeats 1 --json $O/1000-N.json
run() { # TREE COUNTS TAG
  PYTHONPATH=/tmp/s/$1/src TMPDIR=/dev/shm $B bench --sweep-connections $2 --tls on --size 32M \
    --poller single,sharded --event-threads 2 --repeats 3 --json $O/$3-$1.json --quiet
}
run N 1,4,24,100,1000 full
run K 1,4,24,100 a
run N 1,4,24,100 a
run N 1,4,24,100 b
run K 1,4,24,100 b

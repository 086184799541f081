#!/bin/bash
# Performance notes 59 (docs/ARCHITECTURE.md): what was run, in order.
# 1. git worktree add /tmp/s/wt <the commit before notes 59>; cd /tmp/s/wt; git apply
#    docs/bench/notes-59/scripts/pin-switch.diff (GFRPC_X_PIN_HOME=1: the home shard's thread
#    on the last CPU; =all: every shard thread)
# 2. the smallfile command, the bricks run from the worktree (PYTHONPATH=/tmp/s/wt/src):
#      gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller sharded \
#          --event-threads 2 --tls both --files 200 --repeats 3
#    alternated n1 p2 p3 n4 n5 p6 (the first form of the script: p = GFRPC_X_PIN_HOME=1), then
#    scripts/pinrun.sh a n h a h n a (tags a11 ... a17) and n h (START=17: n18 h19).
#    n16 ran beside a short script of mine and is left out of the medians.
# 3. the medians (tags by their first letter; p and h are the same setting):
python3 docs/bench/notes-57/scripts/slice-summary.py docs/bench/notes-59/pin
# 4. transparent huge pages always (system-wide) against madvise, alternated n1 t2 t3 n4
#    (scripts/thprun.sh n t t n; it sets madvise back when it ends; thp/thp-states.txt)
python3 docs/bench/notes-57/scripts/slice-summary.py docs/bench/notes-59/thp
# 5. new connections spread over both shards by count (scripts/spread-switch.diff,
#    GFRPC_X_SPREAD=1, applied to the worktree instead of pin-switch.diff), alternated
#    n1 s2 s3 n4 n5 s6 (scripts/spreadrun.sh n s s n n s)
python3 docs/bench/notes-57/scripts/slice-summary.py docs/bench/notes-59/spread

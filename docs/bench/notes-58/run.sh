#!/bin/bash
# Performance notes 58 (docs/ARCHITECTURE.md): what was run, in order. The scripts expect
# themselves in /tmp/s, with the ones reused from notes 57 (slrun.sh, slice-loop.sh, slice.py,
# slice-summary.py, sampler.py, timeline.py):
#   cp docs/bench/notes-57/scripts/* docs/bench/notes-58/scripts/* /tmp/s/
# and a clean tree at /tmp/s/old
# (git worktree add /tmp/s/old <the commit before>) for the runs of the tree before the change.
set -e

# 1. a 0.1 ms EEVDF slice on every brick thread (notes 57 had tried 6 ms), alternated
#    n1 s1 s2 n2 n3 s3: notes-57's scripts/slrun.sh TAG 0.1|none (slice-loop.sh, slice.py)
#      gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller sharded \
#          --event-threads 2 --tls both --files 200 --repeats 3
python3 docs/bench/notes-57/scripts/slice-summary.py docs/bench/notes-58/slice-short

# 2. where the brick and glusterfsd wait for a CPU, one run each (sched-wait-*.txt)
#      tools/sched-wait -- gfrpc bench --workload smallfile --client fio --server gfrpc \
#          --poller sharded --event-threads 2 --tls off --files 200 --repeats 1   (and glusterfsd)

# 3. the turn's replies behind an environment switch (scripts/turn-switch.diff, GFRPC_X_TURN=1
#    on the brick's sharded poller), the same smallfile command, alternated
#    n1 t1 t2 n2 n3 t3 and n4 t4 t5 n5 (scripts/tnrun.sh with TAGS=...)
python3 docs/bench/notes-57/scripts/slice-summary.py docs/bench/notes-58/switch

# 4. the change in its final form (scripts/turn-final.diff, less its big-work rule, which no
#    smallfile FOP meets) against the tree before it (PYTHONPATH), the same command, alternated
#    o1 n1 n2 o2 o3 n3 (scripts/finrun.sh with TAGS=...)
python3 docs/bench/notes-57/scripts/slice-summary.py docs/bench/notes-58/final

# 5. the brick's poller thread sampled every 50 ms (notes-57's scripts/sampler.py) through single-repeat
#    runs of the tree before (o) and the change (n), alternated o1 n1 n2 o2, TLS off then on
#    (scripts/samprun.sh); each run's timeline (notes-57's scripts/timeline.py) is in sampler/*.timeline.txt
#    and the per-phase averages (scripts/segs.py) in sampler/phases.txt
cat docs/bench/notes-58/sampler/phases.txt

# The change itself, with its tests, as it was measured in 4 and 5: scripts/turn-final.diff
# (git apply it to the commit before notes 58). Not landed.

# 6. every thread of the brick at nice -5 (scripts/renice-all.sh: Linux's nice is per thread,
#    and `renice -p PID`, as notes 57's loop ran it, changes only the main thread), the same
#    smallfile command, alternated n1 r1 r2 n2 n3 r3 (scripts/rnrun.sh with TAGS=... NICE=-5)
python3 docs/bench/notes-57/scripts/slice-summary.py docs/bench/notes-58/renice

#!/bin/sh
# Performance notes 75: 1,000 TLS streams with the budget at 256 MiB (N = b401860) and at 1 GiB
# (B = a copy of b401860 with ServerLimits.max_incomplete_bytes = 1 << 30), alternated N B B N;
# then the brick's peak RSS before and after notes 74 (T = 709fc72, N). Trees are
# `git archive <commit> src` copies under /tmp/s/<tree>, run by PYTHONPATH.
set -e
cd "$(dirname "$0")/../../.."
O=docs/bench/notes-75
for t in N B B N; do
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --sweep-connections 1000 --tls on \
    --size 32M --poller single,sharded --event-threads 2 --repeats 3 \
    --json $O/$t-$(date +%H%M%S).json --quiet
done
for t in T N; do
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --sweep-connections 1000 --tls on \
    --size 32M --poller single,sharded --event-threads 2 --repeats 3 \
    --json $O/rss-$t-$(date +%H%M%S).json --quiet
done

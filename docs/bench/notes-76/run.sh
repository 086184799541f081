#!/bin/sh
# Performance notes 76: trims go on down to TRIM_DOWN_TO after a big peak. N = b401860 (the same
# trim rule as ad9cd12), P = this change (a copy of the work tree), `git archive`/copies under
# /tmp/s/<tree>, alternated N P P N (idle.txt). maps.txt: docs/bench/notes-72/maps.py on
# ad9cd12, on ad9cd12 with TRIM_FROM = 16, and that under PYTHONMALLOC=malloc.
set -e
cd "$(dirname "$0")/../../.."
for t in N P P N; do
  echo "== $t" | tee -a docs/bench/notes-76/idle.txt
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-idle --connections 1000 --poller single \
    --poller sharded --mode tls-1m | tee -a docs/bench/notes-76/idle.txt
done

#!/bin/sh
# Performance notes 74: a closed endpoint freed by reference counting; no forced collection.
# Trees, each a `git archive <commit> src` copy under /tmp/s/<tree> run by PYTHONPATH:
# T = 709fc72 (before), N = this note's code (a copy of the work tree). First look (idle-first.txt,
# from 08:32): F = N without the watchdog's change, G = F without gc.collect, F2/G2 = the same
# with the watchdog's change, alternated T F G G F T and F2 G2 G2 F2.
set -e
cd "$(dirname "$0")/../../.."
O=docs/bench/notes-74
for t in T N N T; do
  for n in 1000 200; do
    echo "== $t $n" | tee -a $O/idle.txt
    PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-idle --connections $n --poller single \
      --poller sharded --mode tcp --mode tls-1m | tee -a $O/idle.txt
  done
done

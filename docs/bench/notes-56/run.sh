#!/bin/bash
# Notes 56: the tree before the lent parts (d67e27d, "old", by PYTHONPATH from a worktree)
# against e031575 ("new"), alternated. What was run, in this order (2026-12-06, 01:26-02:12 UTC):
#   o1 n1 n2 o2, then n3 o3 o4 n4: bench-transport and the connection sweep, each pair
#   six rounds old-first, then six new-first: the sweep at 1 and 24 connections only
# git worktree add /tmp/old d67e27d
cd "$(dirname "$0")"   # the outputs land beside this script
B=../../../.venv/bin/gfrpc
tree() { if [ "$1" = old ]; then export PYTHONPATH=/tmp/old/src; else unset PYTHONPATH; fi; }
pair() { # tag tree
  tree "$2"
  $B bench-transport --json "transport/bt-$1.json" > "transport/bt-$1.txt"
  TMPDIR=/dev/shm $B bench --sweep-connections 1,4,24,100,1000 --tls off --size 32M \
      --json "sweep/sw-$1.json" > "sweep/sw-$1.txt"
}
short() { # prefix tree round
  tree "$2"
  TMPDIR=/dev/shm $B bench --sweep-connections 1,24 --poller single,sharded --event-threads 2 \
      --tls off --size 32M --json "sweep-1-24/$1-$2$3.json"
}
pair o1 old; pair n1 new; pair n2 new; pair o2 old; pair n3 new; pair o3 old; pair o4 old; pair n4 new
for i in 1 2 3 4 5 6; do short s3 old $i; short s3 new $i; done
for i in 1 2 3 4 5 6; do short s4 new $i; short s4 old $i; done

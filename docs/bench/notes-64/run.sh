#!/bin/bash
# Notes 64: does anything run slower since the last transport check (notes 56, e031575)?
# One commit since then touched the transport: a514fbd (a lone request's short way, notes 60).
# "old" = e031575, "new" = 549ff8d, each a `git archive <commit> src` copy run by PYTHONPATH:
#   mkdir -p /tmp/s/old /tmp/s/new
#   git archive e031575 src | tar -x -C /tmp/s/old; git archive 549ff8d src | tar -x -C /tmp/s/new
# Alternated o1 n1 n2 o2, then (after run2.sh) n3 o3 o4 n4 (2026-12-06 UTC): bench-transport (its default matrix) and the
# connection sweep, as notes 56 ran them; summary.py prints the medians (summary.txt).
cd "$(dirname "$0")"   # the outputs land beside this script
B=../../../.venv/bin/gfrpc
pair() { # tag tree
  export PYTHONPATH=/tmp/s/$2/src
  $B bench-transport --json "transport/bt-$1.json" > "transport/bt-$1.txt"
  TMPDIR=/dev/shm $B bench --sweep-connections 1,4,24,100,1000 --tls off --size 32M \
      --json "sweep/sw-$1.json" > "sweep/sw-$1.txt"
}
if [ "$1" = more ]; then
  pair n3 new; pair o3 old; pair o4 old; pair n4 new
else
  pair o1 old; pair n1 new; pair n2 new; pair o2 old
fi

#!/bin/sh
# Performance notes 78: a server-wide budget for replies in the making or unsent, with shares
# per peer machine. Trees, each a copy of `src` under /tmp/s/<tree> run by PYTHONPATH:
# old = 28d7676 (`git archive 28d7676 src`), new = the change (a copy of the work tree).
# Four honest clients on 127.0.0.1 call for 1 MiB replies one at a time, for 30 s, with no
# attacker ("0 0"), or 64 connections that never read, then 4 more a second, from 127.0.0.2
# or from 127.0.0.1 itself; the trees alternated, twice (out/deaf.txt).
set -e
cd "$(dirname "$0")/../../.."
O=docs/bench/notes-78
for round in 1 2; do
  for args in "0 0 4 30" "64 4 4 30 127.0.0.2" "64 4 4 30 127.0.0.1"; do
    for t in old new; do
      echo "== $t deaf.py $args"
      PYTHONPATH=/tmp/s/$t/src .venv/bin/python $O/deaf.py $args 2>&1 | grep -E "^ +30 s|honest"
    done
  done
done
# What a READ pays for the reservation when nobody waits, the trees alternated (out/hotpath.txt):
for t in old new old new; do
  echo -n "$t: "; PYTHONPATH=/tmp/s/$t/src .venv/bin/python $O/hotpath.py
done
# out/deaf-v2.txt and out/deaf-v3.txt are this script's deaf runs with two earlier versions
# of the change (notes 78); out/v3-v4-same-address.txt compares the third with the final one.
# fio gfapi's seq-read into the brick (sharded x2, plain), gfrpc / glusterfsd in each run, the
# trees alternated new old new old (seq-read/*.json):
for run in new-1 old-1 new-2 old-2; do
  PYTHONPATH=/tmp/s/${run%-*}/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload seq-read \
    --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls off \
    --size 32M --repeats 3 --json $O/seq-read/$run.json
done

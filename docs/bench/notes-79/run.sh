#!/bin/sh
# Performance notes 79: LOOKUP's and XATTROP's replies in the server's reply budget. Trees,
# each a copy of `src` under /tmp/s/<tree> run by PYTHONPATH: old = e1a8499
# (`git archive e1a8499 src`), new = the change (a copy of the work tree).
set -e
cd "$(dirname "$0")/../../.."
O=docs/bench/notes-79
# The brick's CPU per LOOKUP of a real client's kind, one connection, the trees alternated
# (out/lookup-cpu-1.txt, three rounds, and out/lookup-cpu-2.txt, eight; with the LOOKUP
# reserving whenever its xdata names keys):
for round in 1 2 3 4 5 6 7 8; do
  for t in old new; do
    echo -n "$t: "; PYTHONPATH=/tmp/s/$t/src .venv/bin/python $O/lookup_cpu.py 20000
  done
done
# Four connections (out/lookup-cpu-4clients.txt, five rounds, reserving whenever the xdata
# names keys; out/lookup-cpu-4clients-behind.txt, ten rounds, with the first version of the
# rule, which counted corked replies as waiting too and takes the same way as the committed
# one when each connection makes one LOOKUP at a time):
for round in 1 2 3 4 5 6 7 8 9 10; do
  for t in old new; do
    echo -n "$t: "; PYTHONPATH=/tmp/s/$t/src .venv/bin/python $O/lookup_cpu.py 40000 4
  done
done
# fio gfapi's small files into the brick (sharded x2, plain), gfrpc / glusterfsd in each run,
# the trees alternated (smallfile/*.json):
for run in new-1 old-1 new-2 old-2 new-3 old-3 new-4 old-4; do
  PYTHONPATH=/tmp/s/${run%-*}/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile \
    --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls off \
    --files 200 --repeats 3 --json $O/smallfile/$run.json
done
# and four more pairs, the old tree first (smallfile/old-5.json ... new-8.json):
for run in old-5 new-5 old-6 new-6 old-7 new-7 old-8 new-8; do
  PYTHONPATH=/tmp/s/${run%-*}/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile \
    --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls off \
    --files 200 --repeats 3 --json $O/smallfile/$run.json
done
# smallfile-corked/: the same eight-run loop as the first one above, with a first version of
# the change that counted corked replies as waiting (notes 79).
# What peers that never read can make the brick hold with LOOKUPs (out/deaf-lookup.txt):
for n in 200 1000 2000; do
  for t in old new; do
    echo "== $t deaf_lookup.py $n 64"
    PYTHONPATH=/tmp/s/$t/src .venv/bin/python $O/deaf_lookup.py $n 64 | grep -v "00 connected"
  done
done

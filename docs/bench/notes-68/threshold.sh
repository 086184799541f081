#!/bin/sh
# Notes 68: the client's "whole beside four" rule (8ab3368) between 4 and 24 connections.
# A = b8aad09 (before the rule), H = 7b22aae (with it), each a `git archive` copy run by
# PYTHONPATH, alternated A H H A A H H A.
set -e
out=docs/bench/notes-68/threshold
for t in A H H A A H H A; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers single,sharded \
    --connections 2,6,8,12,16 --tls on --repeats 3 --json $out/$n-$t.json --quiet
done

# Second set: 12, 16 and 24 connections, where the first set put H below A.
out=docs/bench/notes-68/threshold2
mkdir -p $out
n=0
for t in H A A H H A A H; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers single,sharded \
    --connections 12,16,24 --tls on --repeats 3 --json $out/$n-$t.json --quiet
done

# Third set: 4 (H's code path is A's there) and 6 connections, where the first set put H lower.
out=docs/bench/notes-68/threshold3
mkdir -p $out
n=0
for t in A H H A A H H A; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers single,sharded \
    --connections 4,6 --tls on --repeats 3 --json $out/$n-$t.json --quiet
done

# Fourth set: T = H with _WHOLE_BESIDE 8 (beside-8.diff), `sharded` only, 6, 8 and 12 connections.
out=docs/bench/notes-68/beside-8
mkdir -p $out
n=0
for t in A H T T H A A H T T H A A H T T H A; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers sharded \
    --connections 6,8,12 --tls on --repeats 3 --json $out/$n-$t.json --quiet
done

# The seed's client CPU with T against H: gfrpc's client -> sharded x2 only, TLS.
out=docs/bench/notes-68/seed-beside-8
mkdir -p $out
n=0
for t in H T T H H T T H T H H T T H H T; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload seq-write --client gfrpc \
    --server gfrpc --poller sharded --event-threads 2 --tls on --size 32M --repeats 3 \
    --json $out/$n-$t.json --quiet
done

# Fifth set: A, H and T at 16 and 24 connections, both pollers.
out=docs/bench/notes-68/beside-8-wide
mkdir -p $out
n=0
for t in A H T T H A A H T T H A; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers single,sharded \
    --connections 16,24 --tls on --repeats 3 --json $out/$n-$t.json --quiet
done

# fio's TLS seq-read, A against H's successor (ad3f072, "K"), after the 03:02 --compare put
# every brick under glusterfsd x2 there.
out=docs/bench/notes-68/seq-read
mkdir -p $out
n=0
for t in A K K A A K; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload seq-read --client fio \
    --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls on --size 32M --repeats 3 \
    --json $out/$n-$t.json --quiet
done

# The README's table: the full --compare of ad3f072 (02:29-02:57 UTC), run before the seq-read
# rounds above; its files are docs/bench/compare.{json,txt,png} (.txt is stderr then stdout).
# TMPDIR=/dev/shm .venv/bin/gfrpc bench --compare --size 32M --files 50 --repeats 3 \
#   --json /tmp/cmp/compare.json --plot /tmp/cmp/compare.png > /tmp/cmp/compare.txt 2> /tmp/cmp/compare.err

#!/bin/sh
# Performance notes 68: the client's "whole beside N" rule (tls.py _WHOLE_BESIDE) between 2 and
# 24 connections, and the README's --compare. Trees, each a `git archive <commit> src` copy
# under /tmp/s/<tree> run by PYTHONPATH (bench-transport's server process inherits it):
#   A = b8aad09 (before the rule), H = 7b22aae (whole beside four),
#   T = H with beside-8.diff (whole beside eight), K = ad3f072 (T's code, committed).
# Summaries: threshold.py DIR (threshold, threshold2, threshold3), pooled.py, six.py,
# beside8.py DIR (beside-8, beside-8-wide, edge), seed.py, seq-read.py; each wrote the .txt of its name.
set -e
cd "$(dirname "$0")/../../.."
B=.venv/bin/gfrpc

# transport DIR "ORDER" ARGS...: one bench-transport run per tree in ORDER, JSON in DIR/N-TREE.json
transport() {
  out=docs/bench/notes-68/$1 order=$2; shift 2; n=0; mkdir -p $out
  for t in $order; do
    n=$((n + 1))
    PYTHONPATH=/tmp/s/$t/src $B bench-transport --tls on --repeats 3 "$@" --json $out/$n-$t.json --quiet
  done
}

# bench DIR "ORDER" ARGS...: the same for `gfrpc bench`
bench() {
  out=docs/bench/notes-68/$1 order=$2; shift 2; n=0; mkdir -p $out
  for t in $order; do
    n=$((n + 1))
    PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm $B bench --poller sharded --event-threads 2 --tls on \
      --size 32M --repeats 3 "$@" --json $out/$n-$t.json --quiet
  done
}

transport threshold "A H H A A H H A" --pollers single,sharded --connections 2,6,8,12,16
transport threshold2 "H A A H H A A H" --pollers single,sharded --connections 12,16,24
transport threshold3 "A H H A A H H A" --pollers single,sharded --connections 4,6
transport beside-8 "A H T T H A A H T T H A A H T T H A" --pollers sharded --connections 6,8,12
transport beside-8-wide "A H T T H A A H T T H A" --pollers single,sharded --connections 16,24
bench seed-beside-8 "H T T H H T T H T H H T T H H T" --workload seq-write --client gfrpc --server gfrpc

# The README's table: the full --compare of ad3f072 (02:29-02:57 UTC), before the seq-read
# rounds below; its files are docs/bench/compare.{json,txt,png} (.txt: stderr, then stdout).
mkdir -p /tmp/cmp
TMPDIR=/dev/shm $B bench --compare --size 32M --files 50 --repeats 3 \
  --json /tmp/cmp/compare.json --plot /tmp/cmp/compare.png > /tmp/cmp/compare.txt 2> /tmp/cmp/compare.err

# fio's TLS seq-read, A against K, after the --compare put every brick under glusterfsd x2 there
bench seq-read "A K K A A K" --workload seq-read --client fio --server gfrpc,glusterfsd

# 9, 10 and 11 connections, where eight others are sometimes waiting and sometimes not
transport edge "A K K A A K K A" --pollers single,sharded --connections 9,10,11

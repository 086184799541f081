#!/bin/bash
# Notes 64, second part: the default brick's rows drawn again on this session's AMD EPYC, so
# that the 16:54 `--compare` (one draw) is not the only estimate on this machine. HEAD =
# 549ff8d, the tree of that run. Alternated kinds, four smallfile runs and three streaming ones.
cd "$(dirname "$0")"
B=../../../.venv/bin/gfrpc
mkdir -p draws
small() {
  TMPDIR=/dev/shm $B bench --workload smallfile --client fio --server gfrpc,glusterfsd \
      --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 \
      --json "draws/small-$1.json" --quiet > "draws/small-$1.txt"
}
seq() {
  TMPDIR=/dev/shm $B bench --workload seq-write --workload seq-read --client fio,gfrpc \
      --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls on --size 32M \
      --repeats 3 --json "draws/seq-$1.json" --quiet > "draws/seq-$1.txt"
}
small 1; seq 1; small 2; seq 2; small 3; seq 3; small 4

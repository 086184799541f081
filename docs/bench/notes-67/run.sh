#!/bin/bash
# The runs of Performance notes 67 (docs/ARCHITECTURE.md), from the repository's root, product
# tree at b8aad09, then 8ab3368 for the last run. Not part of any test; kept as the record of
# what was run (2026-12-06 23:06 - 2026-12-07 00:40 UTC).
set -e
B="env TMPDIR=/dev/shm .venv/bin/gfrpc bench"
N=docs/bench/notes-67
SEQ="--workload seq-write --poller sharded --event-threads 2 --tls on --size 32M --repeats 3"

# The first look (seed-first.json).
$B $SEQ --client gfrpc,fio --server gfrpc,glusterfsd --json $N/seed-first.json

# What gfrpc's client spends: perf on the bench's stage process (the one with the streams'
# threads) for 10 s of a longer run (client-perf.txt); and its sends, by strace for 3 s.
#   $B --workload seq-write --client gfrpc --server gfrpc --poller sharded --event-threads 2 \
#     --tls on --size 128M --repeats 2 &
#   perf record -F 499 -g -p STAGE -o /tmp/perfc.data -- sleep 10
#   strace -f -p STAGE -e trace=sendto,sendmsg,epoll_ctl,write -o /tmp/ptr.strace  (3 s)

# Two WRITEs in flight per stream (2 MiB records: File.pwrite pipelines them), as a client
# write-behind would keep them; alternated 1M 2M 2M 1M 1M 2M (record/).
i=0
for r in 1M 2M 2M 1M 1M 2M; do
  i=$((i+1))
  $B $SEQ --client gfrpc --server gfrpc --record $r --json $N/record/rec-$r-$i.json --quiet
done

# Scratch trees: A = b8aad09's src; C = A with slice-1mib.diff; D = A with writers.diff;
# F = A with unheard.diff; G = A with unheard-4.diff (each: git archive b8aad09 src | tar -x -C /tmp/s/T; git apply).
run() { PYTHONPATH=/tmp/s/$1/src $B "${@:2}" --quiet; }
i=0; for t in A B C C B A A B C; do i=$((i+1))   # B: _TLS_SLICE 256 KiB
  run $t $SEQ --client gfrpc --server gfrpc --json $N/slices/sl-$t-$i.json; done
i=0; for t in A C C A A C C A; do i=$((i+1))
  run $t $SEQ --client gfrpc,fio --server gfrpc,glusterfsd --json $N/slices/s2-$t-$i.json; done
i=0; for t in A C C A A C; do i=$((i+1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers single,sharded \
    --connections 1,4,24 --tls on --repeats 3 --json $N/slices/bu-$t-$i.json --quiet; done
i=0; for t in A D D A A D D A; do i=$((i+1))
  run $t $SEQ --client gfrpc,fio --server gfrpc,glusterfsd --json $N/writers/s3-$t-$i.json; done
i=0; for t in A D D A A D; do i=$((i+1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers single,sharded \
    --connections 1,4,24 --tls on --repeats 3 --json $N/writers/bt-$t-$i.json --quiet; done
i=0; for t in A F F A A F F A; do i=$((i+1))
  run $t $SEQ --client gfrpc,fio --server gfrpc,glusterfsd --json $N/unheard/s5-$t-$i.json; done
i=0; for t in A F F A A F; do i=$((i+1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers single,sharded \
    --connections 1,4,24 --tls on --repeats 3 --json $N/unheard/bf-$t-$i.json --quiet; done

# G = A with unheard-4.diff (whole only beside four or more waiting sessions; as measured, the
# brick's replies too): the seed, bench-transport at 4 and 24 connections, and fio's TLS
# seq-read, each alternated (threshold/, 00:11-00:32 UTC).
i=0; for t in A G G A A G G A; do i=$((i+1))
  run $t $SEQ --client gfrpc,fio --server gfrpc,glusterfsd --json $N/threshold/s6-$t-$i.json; done
i=0; for t in A G G A A G G A; do i=$((i+1))
  PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --pollers single,sharded \
    --connections 4,24 --tls on --repeats 3 --json $N/threshold/bg-$t-$i.json --quiet; done
i=0; for t in A G G A A G; do i=$((i+1))
  run $t --workload seq-read --client fio,gfrpc --server gfrpc,glusterfsd --poller sharded \
    --event-threads 2 --tls on --size 32M --repeats 3 --json $N/threshold/r7-$t-$i.json; done
# The kept change (G on a client's side only, in src/), one run (00:40 UTC).
$B $SEQ --client gfrpc,fio --server gfrpc,glusterfsd --json $N/kept-seed.json

# Summaries (the .txt files beside this script).
python3 $N/single-cell.py "$N/record/*.json" > $N/record.txt
python3 $N/single-cell.py "$N/slices/sl-*.json" > $N/slices-seed-only.txt
python3 $N/ratios.py "$N/slices/s2-*.json" > $N/slices-seed.txt
python3 $N/transport.py "$N/slices/bu-*.json" > $N/slices-transport.txt
python3 $N/ratios.py "$N/writers/s3-*.json" > $N/writers-seed.txt
python3 $N/transport.py "$N/writers/bt-*.json" > $N/writers-transport.txt
python3 $N/ratios.py "$N/unheard/s5-*.json" > $N/unheard-seed.txt
python3 $N/transport.py "$N/unheard/bf-*.json" > $N/unheard-transport.txt
python3 $N/ratios.py "$N/threshold/s6-*.json" > $N/threshold-seed.txt
python3 $N/transport.py "$N/threshold/bg-*.json" > $N/threshold-transport.txt
python3 $N/ratios.py "$N/threshold/r7-*.json" > $N/threshold-seq-read.txt

#!/bin/bash
# Notes 57 (2026-12-06, 02:55-03:45 UTC, the Intel Xeon of notes 52 and 56). What was run, in
# this order; the scripts are in scripts/ (they were run from /tmp/s, whose paths they name).
cd "$(dirname "$0")/../../.."   # the work tree
B=.venv/bin/gfrpc

# 1. bench-transport at one connection with TLS, the client's TLS slice 64 / 16 / 256 KiB,
#    two rounds (scripts/bt_slice.py sets gfrpc.transport.tls._TLS_SLICE): slices/sl-SIZE-R.json
for r in 1 2; do for sl in 64 16 256; do
  .venv/bin/python docs/bench/notes-57/scripts/bt_slice.py $sl docs/bench/notes-57/slices/sl-$sl-$r.json
done; done

# 2. --handler workers (w) and inline (i), alternated w i i w, the whole default matrix
for x in w1 i1 i2 w2; do
  h=workers; [[ $x == i* ]] && h=inline
  $B bench-transport --handler $h --json docs/bench/notes-57/handler/$x.json --quiet \
    > docs/bench/notes-57/handler/$x.txt
done
python3 docs/bench/notes-57/scripts/handler-cmp.py docs/bench/notes-57/handler w1,w2 i1,i2

# 3. fio's smallfile against gfrpc and glusterfsd, the brick reniced by a loop beside the bench
#    (scripts/sfrun.sh TAG NICE|none): base1 nice1(-10) base2 nice2(-10) pn1(+10) base3 pn2(+10)

# 4. the brick's poller thread sampled every 50 ms (scripts/sampler.py: schedstat and context
#    switches of every thread) through four single-repeat smallfile runs (scripts/sfone.sh a..d);
#    scripts/timeline.py prints the poller's CPU share, run-queue wait and switches per 0.2 s
for x in a b c d; do docs/bench/notes-57/scripts/sfone.sh $x; done

# 5. the per-FOP CPU of the brick's dispatch in a warm loop: tools/fop-bytecodes with
#    scripts/fop-cpu-by-fop.diff applied (per-record thread CPU, exceptions, cProfile), under
#    Debian's python3.11 and pyenv's 3.11.7, 3.12.1 and 3.13.0:
#      PYTHONPATH=src PY /tmp/fopcpu.py --worker create --rounds 9

# 6. the default brick's smallfile rows eight times in a row (eight/run.sh; eight/summ.py)
#      gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller sharded \
#          --event-threads 2 --tls both --files 200 --repeats 3

# 7. the same command with a 6 ms EEVDF slice set on every brick thread by a loop beside it
#    (scripts/slrun.sh TAG 6|none, scripts/slice-loop.sh, scripts/slice.py), alternated
#    n1 s1 s2 n2 n3 s3 (slice/run.sh); scripts/slice-summary.py docs/bench/notes-57/slice

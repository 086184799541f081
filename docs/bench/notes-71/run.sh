#!/bin/sh
# Performance notes 71: TLS sessions keep the capacity of the largest piece fed to or encrypted
# by them; beyond _FEW_SESSIONS open sessions, pieces of at most 32 KiB. Trees, each a
# `git archive`/copy of src under /tmp/s/<tree> run by PYTHONPATH: N = f5dcd2f (notes 70),
# M = N with this change (first with _FEW_SESSIONS 64: sweep-64/, then 256: sweep-256/, idle/).
# Summary: python summary.py (summary.txt).
set -e
cd "$(dirname "$0")/../../.."
B=.venv/bin/gfrpc
O=docs/bench/notes-71
P=.venv/bin/python

# What idle sessions keep (no brick; one process of OpenSSL sessions over memory BIOs)
for a in "262144 0" "32768 0" "262144 65536" "32768 65536" "32768 32768" "16384 16384"; do
  $P $O/biomem.py $a                 # server sessions: feed size, reply slice size
done
for p in 1048576 65536 32768; do $P $O/biomem_client.py $p; done  # client sessions: part pieces
$P $O/trim.py                        # after closing them, and after malloc_trim(0)

# The sweep at 100 and 1,000 TLS connections, N M M N N M, with _FEW_SESSIONS = 64
n=0
for t in N M M N N M; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm $B bench --sweep-connections 100,1000 --tls on \
    --size 32M --poller single,sharded --event-threads 2 --repeats 3 --json $O/sweep-64/$n-$t.json --quiet
done
# 1,000 TLS connections, N M M N, with _FEW_SESSIONS = 256; the bench process's peak RSS
n=0
for t in N M M N; do
  n=$((n + 1))
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm /usr/bin/time -v $B bench --sweep-connections 1000 \
    --tls on --size 32M --poller single,sharded --event-threads 2 --repeats 3 \
    --json $O/sweep-256/$n-$t.json --quiet 2>&1 | grep -E "Maximum resident|Elapsed" > $O/sweep-256/$n-$t.time.txt
done
# The brick with 1,000 TLS connections that each sent one 1 MiB request, then idle, N M M N
for t in N M M N; do
  PYTHONPATH=/tmp/s/$t/src $B bench-idle --connections 1000 --poller sharded --poller single \
    --mode tls-1m | tee -a $O/idle/$t.txt
done

#!/bin/bash
# Notes 65: fio's TLS seq-write into the default brick, drawn again, and four changes tried on it.
# Trees are `git archive 70f217e src` copies under $S, each with one diff of this directory applied,
# run by PYTHONPATH (it overrides the editable install). Every bench row here:
#   gfrpc bench --workload seq-write --client fio --server gfrpc,glusterfsd --poller sharded
#       --event-threads 2 --tls on --size 32M --repeats 3
set -e
cd "$(dirname "$0")"
S=${S:-/tmp/s}
B=../../../.venv/bin/gfrpc
tree() {  # tree NAME [DIFF...]: a copy of 70f217e's src with the diffs applied
  rm -rf "$S/$1"; mkdir -p "$S/$1"; git archive 70f217e src | tar -x -C "$S/$1"
  local name=$1; shift
  for d in "$@"; do (cd "$S/$name" && patch -s -p1 < "$OLDPWD/$d"); done
}
row() {  # row TREE JSON [extra env]: one bench run
  local t=$1 j=$2; shift 2
  env "$@" PYTHONPATH="$S/$t/src" TMPDIR=/dev/shm $B bench --workload seq-write --client fio \
    --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls on --size 32M --repeats 3 \
    --json "$j" --quiet > /dev/null
}
rounds() {  # six draws of HEAD, gfrpc's client too (rounds/)
  for i in 1 2 3 4 5 6; do
    TMPDIR=/dev/shm $B bench --workload seq-write --client fio,gfrpc --server gfrpc,glusterfsd \
      --poller sharded --event-threads 2 --tls on --size 32M --repeats 3 --json rounds/r-$i.json --quiet
  done
}
header_and_yield() {  # header-and-yield/ (latency logs in /var/tmp/gfrpc-latlog)
  tree A fio-latency-log.diff; tree B fio-latency-log.diff header-and-yield.diff
  for i in 1 2; do row A header-and-yield/head-$i.json; row B header-and-yield/new-$i.json; done
}
rcvbuf() {  # rcvbuf/: SO_RCVBUF on the brick's accepted sockets, by environment variable
  tree A0; tree C rcvbuf.diff
  for i in 1 2 3; do
    row A0 rcvbuf/head-$i.json; row C rcvbuf/1m-$i.json GFRPC_X_RCVBUF=1048576
    row C rcvbuf/2m-$i.json GFRPC_X_RCVBUF=2097152
  done
  for i in 7 8 9; do  # (4-6 ran while stray loops of mine polled /proc: not kept)
    row A0 rcvbuf/head-$i.json; row C rcvbuf/512k-$i.json GFRPC_X_RCVBUF=524288
    row C rcvbuf/768k-$i.json GFRPC_X_RCVBUF=786432
  done
}
write_handoff() {  # write-handoff/: WRITEs over 512 KiB to the io-threads
  tree A0; tree D write-handoff.diff
  for i in 1 2 3; do row A0 write-handoff/head-$i.json; row D write-handoff/handoff-$i.json; done
}
"${@:-rounds}"

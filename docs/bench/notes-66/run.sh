#!/bin/bash
# The runs of Performance notes 66 (docs/ARCHITECTURE.md), from the repository's root, product
# tree at a0192a7. Not part of any test; kept as the record of what was run.
set -e
B="env TMPDIR=/dev/shm .venv/bin/gfrpc bench"
N=docs/bench/notes-66

# Two processes: a scratch copy of src/ with docs/bench/notes-55/two-processes.diff applied, at
# /tmp/s/mp/src; GFRPC_X_PROCS unset is the brick as it is, 2 adds a second `gfrpc brick` on the
# same port (SO_REUSEPORT) and makes the meter count it.
mkdir -p /tmp/s/mp && git archive a0192a7 src | tar -x -C /tmp/s/mp
sed 's#/work/main/src#a/src#; s#mp/src#b/src#' docs/bench/notes-55/two-processes.diff |
  (cd /tmp/s/mp && patch -p1)
arm() { if [ "$1" = 2 ]; then export GFRPC_X_PROCS=2; else unset GFRPC_X_PROCS; fi; }
i=0
for np in 1 2 2 1 1 2 2 1 1 2; do   # two-processes/mp-*.json, 21:13-21:26 UTC
  i=$((i+1)); arm $np
  PYTHONPATH=/tmp/s/mp/src $B --workload seq-write --client fio --server gfrpc,glusterfsd \
    --poller sharded --event-threads 1,2 --tls on --size 32M --repeats 3 \
    --json $N/two-processes/mp-$np-$i.json --quiet
done
i=0
for np in 1 2 2 1; do               # two-processes/sf-*.json and seed-*.json, 21:29-21:48 UTC
  i=$((i+1)); arm $np
  PYTHONPATH=/tmp/s/mp/src $B --workload smallfile --client fio --server gfrpc,glusterfsd \
    --poller sharded --event-threads 1,2 --tls on --files 200 --repeats 3 \
    --json $N/two-processes/sf-$np-$i.json --quiet
  PYTHONPATH=/tmp/s/mp/src $B --workload seq-write --client fio,gfrpc --server gfrpc,glusterfsd \
    --poller sharded --event-threads 1,2 --tls on --size 32M --repeats 3 \
    --json $N/two-processes/seed-$np-$i.json --quiet
done
unset GFRPC_X_PROCS
for p in mp sf seed; do python3 $N/ratios.py $N/two-processes/$p > $N/two-processes/$p.txt; done

# The machine's idle share: /proc/stat every 0.2 s over one long bench of each server.
for srv in gfrpc glusterfsd; do
  rm -f /tmp/s/stop; python3 $N/cpusample.py $N/saturation/cpu-$srv.txt /tmp/s/stop & sp=$!
  $B --workload seq-write --client fio --server $srv --poller sharded --event-threads 2 --tls on \
    --size 128M --repeats 1 --json $N/saturation/long-$srv.json --quiet
  touch /tmp/s/stop; wait $sp
done
# Summary of the busy samples (idle under 30 %), as the note gives it:
for srv in gfrpc glusterfsd; do
  awk '$7<0.3 {i+=$7; n++} END {print FILENAME, n, "busy samples, idle", i/n}' $N/saturation/cpu-$srv.txt
done

# Who runs while the machine is busy: every process's CPU over the busy 0.2 s intervals.
for i in 1 2; do
  for srv in gfrpc glusterfsd; do
    rm -f /tmp/s/stop; python3 $N/whoruns.py $N/saturation/who-$srv-$i.json /tmp/s/stop & sp=$!
    $B --workload seq-write --client fio --server $srv --poller sharded --event-threads 2 \
      --tls on --size 32M --repeats 3 --json $N/saturation/whob-$srv-$i.json --quiet
    touch /tmp/s/stop; wait $sp
  done
done
# (who-*.json name a Python process by its second argument, `gfrpc.cli` for the brick; the
# later who2-gfrpc.json, by its next three: `-m gfrpc.cli brick` and `-m gfrpc.cli mgmtd`.)
rm -f /tmp/s/stop; python3 $N/whoruns.py $N/saturation/who2-gfrpc.json /tmp/s/stop & sp=$!
$B --workload seq-write --client fio --server gfrpc --poller sharded --event-threads 2 --tls on \
  --size 32M --repeats 3 --quiet
touch /tmp/s/stop; wait $sp

# The management daemons beside the servers, every 0.2 s (saturation/mgmt-*.txt).
for srv in gfrpc glusterfsd; do
  rm -f /tmp/s/stop; python3 $N/mgmtwatch.py $N/saturation/mgmt-$srv.txt /tmp/s/stop & sp=$!
  $B --workload seq-write --client fio --server $srv --poller sharded --event-threads 2 --tls on \
    --size 32M --repeats 3 --quiet
  touch /tmp/s/stop; wait $sp
done

# Streams left behind spread again: a0192a7's src at /tmp/s/A, the same with even-out.diff at
# /tmp/s/B (22:08-22:18 UTC).
mkdir -p /tmp/s/A /tmp/s/B
git archive a0192a7 src | tar -x -C /tmp/s/A; git archive a0192a7 src | tar -x -C /tmp/s/B
(cd /tmp/s/B && patch -p1 < "$OLDPWD/$N/even-out.diff")
i=0
for t in A B B A A B B A A B B A; do
  i=$((i+1))
  PYTHONPATH=/tmp/s/$t/src $B --workload seq-write --client fio --server gfrpc,glusterfsd \
    --poller sharded --event-threads 2 --tls on --size 32M --repeats 3 \
    --json $N/even-out/eo-$t-$i.json --quiet
done
(cd $N && python3 even-out.py > even-out/summary.txt)

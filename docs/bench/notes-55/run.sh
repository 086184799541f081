#!/bin/sh
# The runs of Performance notes 55 (docs/ARCHITECTURE.md), from the repository's root, product
# tree at 525e5d5, each command alternated between the two settings as the note says. Not part
# of any test; kept as the record of what was run.
B="env TMPDIR=/dev/shm .venv/bin/gfrpc bench"

# Two processes: a scratch copy of src/ with two-processes.diff applied, at /tmp/mp/src;
# GFRPC_X_PROCS=1 is the brick as it is, 2 adds a second `gfrpc brick` on the same port.
for np in 1 2; do
  export GFRPC_X_PROCS=$np PYTHONPATH=/tmp/mp/src
  $B --workload seq-write --client fio,gfrpc --server gfrpc,glusterfsd --poller single,sharded \
     --event-threads 2 --tls on --size 32M --repeats 3 --json two-processes/mp-sw-$np-R.json
  # (mp-sw2-*: the same command again, once the meter counted the second process)
  $B --workload smallfile --client fio --server gfrpc,glusterfsd --poller single \
     --event-threads 2 --tls off --files 200 --repeats 3 --json two-processes/mp-sf-$np-R.json
  $B --workload smallfile --workload seq-write --client fio,gfrpc --server gfrpc,glusterfsd \
     --poller single,sharded --event-threads 2 --tls on --files 200 --size 32M --repeats 3 \
     --json two-processes/mp-tls-$np.json
  $B --workload smallfile --client fio --server gfrpc,glusterfsd --poller single,sharded \
     --event-threads 2 --tls both --files 200 --repeats 3 --json two-processes/mp-sf3-$np-HHMM.json
done
unset GFRPC_X_PROCS PYTHONPATH

# The brick on one CPU: pin.sh pins every `gfrpc.cli brick` process, all its threads, to CPU 1
# as soon as it appears (fio and glusterfsd are not pinned).
for mode in free pin; do
  rm -f /tmp/stoppin
  if [ $mode = pin ]; then docs/bench/notes-55/pin.sh 1 /tmp/stoppin & fi
  $B --workload smallfile --client fio --server gfrpc,glusterfsd --poller single,sharded \
     --event-threads 2 --tls both --files 200 --repeats 3 --json pinned/pin2-$mode-HHMM.json
  $B --workload seq-write --client fio,gfrpc --server gfrpc,glusterfsd --poller single,sharded \
     --event-threads 2 --tls on --size 32M --repeats 3 --json pinned/pinsw-$mode-HHMM.json
  touch /tmp/stoppin; wait
done
# (pin-*-R.json: the first two rounds, --tls off only.)

# Spin before sleep: spin-before-sleep.diff at /tmp/spin/src, GFRPC_X_SPIN=0 or 1:
#   PYTHONPATH=/tmp/spin/src $B --workload smallfile --client fio --server gfrpc,glusterfsd \
#     --poller single --event-threads 2 --tls off --files 200 --repeats 3
# Files per job: the same smallfile command with --poller single,sharded and --files 50 or 200.

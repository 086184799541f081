#!/bin/sh
# Performance notes 52: a TLS connection's first big read ends its event (commit 1359d34).
# env-f{0,1}-rN.json: first measured as an environment switch in one tree
# (GFRPC_X_FIRSTBIG=1 turned the rule on), three alternated rounds, gfrpc brick only:
#   GFRPC_X_FIRSTBIG=$f PYTHONPATH=TREE/src gfrpc bench --workload seq-write --client fio \
#       --server gfrpc --poller sharded --event-threads 2 --tls on --size 32M --repeats 3
# {old,new}-rN.{json,txt}: the tree before (a35bf3a) and with the change, alternated, with
# glusterfsd in every run:
for r in 1 2 3; do
  for arm in old new; do
    PYTHONPATH=/tmp/$arm/src gfrpc bench --workload seq-write --client fio,gfrpc \
      --server gfrpc,glusterfsd --poller sharded,pool --event-threads 2 --tls on --size 32M \
      --repeats 3 --json $arm-r$r.json --quiet > $arm-r$r.txt
  done
done

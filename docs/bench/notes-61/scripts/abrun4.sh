#!/bin/bash
# n = 15cf30b as it landed, x = the same with InodeCache.put_own and carry made no-ops (the
# gfid kept from the brick's own CREATE and WRITE switched off); TLS off only; as given
cd /work/main
i=${START:-0}
for m in "$@"; do
  i=$((i+1))
  if [ "$m" = n ]; then T=/tmp/s/fin3/src; else T=/tmp/s/noput/src; fi
  PYTHONPATH=$T TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls off --files 200 --repeats 3 --json /tmp/s/ab4/$m$i.json --quiet > /tmp/s/ab4/$m$i.log 2>&1
  echo "$m$i rc $?" >> /tmp/s/ab4/done.txt
done

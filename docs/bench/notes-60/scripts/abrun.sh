#!/bin/bash
# o = the tree before (HEAD fc7bf5e), n = the lone-request path (worktree); alternated as given
cd /work/main
i=${START:-0}
for m in "$@"; do
  i=$((i+1))
  if [ "$m" = n ]; then T=/tmp/s/wt/src; else T=/tmp/s/old/src; fi
  PYTHONPATH=$T TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 --json /tmp/s/ab/$m$i.json --quiet > /tmp/s/ab/$m$i.log 2>&1
  echo "$m$i rc $?" >> /tmp/s/ab/done.txt
done

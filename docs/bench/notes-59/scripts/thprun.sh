#!/bin/bash
# n = THP madvise (as the machine is), t = THP always (system-wide: the brick, glusterfsd and fio alike)
cd /work/main
trap 'echo madvise > /sys/kernel/mm/transparent_hugepage/enabled' EXIT
i=0
for m in "$@"; do
  i=$((i+1))
  if [ "$m" = t ]; then echo always > /sys/kernel/mm/transparent_hugepage/enabled; else echo madvise > /sys/kernel/mm/transparent_hugepage/enabled; fi
  cat /sys/kernel/mm/transparent_hugepage/enabled >> /tmp/s/thp/done.txt
  TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls both --files 200 --repeats 3 --json /tmp/s/thp/$m$i.json --quiet > /tmp/s/thp/$m$i.log 2>&1
  echo "$m$i rc $? $(grep AnonHuge /proc/meminfo)" >> /tmp/s/thp/done.txt
done

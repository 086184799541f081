#!/bin/bash
cd /work/main
snap() { awk '/RES:|CAL:|TLB:|LOC:/ {s=0; for(i=2;i<=3;i++) s+=$i; printf "%s%d ", $1, s}' /proc/interrupts; awk '/^ctxt/ {printf "ctxt:%d ", $2}' /proc/stat; echo; }
for i in 1 2; do for srv in gfrpc glusterfsd; do
  a=$(snap)
  TMPDIR=/dev/shm timeout 900 .venv/bin/gfrpc bench --workload seq-write --client fio --server $srv --poller sharded --event-threads 2 --tls on --size 32M --repeats 3 --json /tmp/s/irq-$srv-$i.json --quiet > /tmp/s/irq-$srv-$i.txt 2>&1
  b=$(snap)
  echo "$srv $i | $a | $b | $(grep -E 'fio → ' /tmp/s/irq-$srv-$i.txt | head -1 | cut -c1-120)"
done; done

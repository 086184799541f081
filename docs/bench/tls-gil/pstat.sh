#!/bin/bash
# usage: pstat.sh POLLER THREADS [extra bench args]
cd /work/main
P=$1; T=$2; shift 2
(TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload seq-write --client fio --server gfrpc --poller $P --event-threads $T --tls on --size 512M --repeats 1 --quiet "$@" > /tmp/pstat-bench.out 2>&1; echo done > /tmp/pstat-done) &
rm -f /tmp/pstat-done
B=""; for i in $(seq 1 300); do B=$(ps -eo pid,args | grep "[g]frpc.cli brick" | awk '{print $1}' | head -1); [ -n "$B" ] && break; sleep 0.2; done
for i in $(seq 1 300); do pgrep -x fio >/dev/null && break; sleep 0.2; done
sleep 4
perf stat -e task-clock,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_recvfrom,syscalls:sys_enter_pwrite64 -p $B -- sleep 4 2>&1 | grep -E "task-clock|context|futex|recvfrom|pwrite" 
while [ ! -f /tmp/pstat-done ]; do sleep 1; done
grep -E "fio → gfrpc" /tmp/pstat-bench.out | head -2

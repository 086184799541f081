#!/bin/bash
# perf stat over the whole life of the brick of a gfrpc bench run (notes 53); start it, then the bench.
# perf stat the brick for its whole life
out=$1
for i in $(seq 600); do pid=$(ps -eo pid,args | grep "[g]frpc.cli brick" | awk '{print $1}' | head -1); [ -n "$pid" ] && break; sleep 0.1; done
sleep 1
perf stat -e task-clock,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg -p $pid 2> $out.stat

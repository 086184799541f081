#!/bin/bash
# renice EVERY thread of every gfrpc brick (found by command line) to $1 while the bench runs
# (Linux's nice is per thread: renice -p PID alone changes only the main thread)
while true; do
  for p in $(pgrep -f "gfrpc.cli brick"); do
    for t in /proc/$p/task/*; do renice -n $1 -p ${t##*/} >/dev/null 2>&1; done
  done
  sleep 0.2
done

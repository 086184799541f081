#!/bin/bash
# renice gfrpc brick processes (found by command line) to $1 while the bench runs
while true; do
  for p in $(pgrep -f "gfrpc.cli brick"); do renice -n $1 -p $p >/dev/null 2>&1; done
  sleep 0.2
done

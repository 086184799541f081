#!/bin/bash
# set the EEVDF slice ($1 ms) of every thread of every gfrpc brick while the bench runs
while true; do
  P=$(pgrep -f "gfrpc.cli brick" | tr '\n' ' ')
  [ -n "$P" ] && python3 /tmp/s/slice.py $1 $P > /dev/null 2>&1
  sleep 0.2
done

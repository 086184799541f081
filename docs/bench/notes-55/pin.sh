#!/bin/bash
# pin every gfrpc brick process (all threads) to CPU $1 until $2 exists
done_=""
while [ ! -e "$2" ]; do
  for p in $(pgrep -f "gfrpc.cli brick"); do
    case " $done_ " in *" $p "*) ;; *) taskset -a -p -c $1 $p >/dev/null 2>&1 && done_="$done_ $p"; echo pinned $p >> /tmp/s55/pin.log;; esac
  done
  sleep 0.1
done

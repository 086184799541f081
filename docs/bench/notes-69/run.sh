#!/bin/sh
# Performance notes 69: every command of this note's runs, from the work tree's root
# (sh docs/bench/notes-69/run.sh autogroup|threads3|size128|schedwait|perfsched|gilwait|wide|widesummary|idlerow).
set -e
OUT=docs/bench/notes-69

# fio's TLS seq-write into sharded x2 beside glusterfsd x2 (the row issue 9 misses);
# extra arguments replace or add to the defaults
row() {  # row JSON [bench arguments...]
    json=$1
    shift
    TMPDIR=/dev/shm .venv/bin/gfrpc bench --workload seq-write --client fio \
        --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls on \
        --size 32M --repeats 3 --json "$json" --quiet "$@"
}

# autogroup scheduling on (1) and off (0), alternated; the setting is put back at the end
autogroup() {
    old=$(cat /proc/sys/kernel/sched_autogroup_enabled)
    i=0
    for a in 1 0 0 1 1 0 0 1; do
        i=$((i + 1))
        echo "$a" > /proc/sys/kernel/sched_autogroup_enabled
        row "$OUT/autogroup/ag$a-$i.json"
    done
    echo "$old" > /proc/sys/kernel/sched_autogroup_enabled
}

# two and three threads on each side, in one run
threads3() {
    for i in 1 2; do row "$OUT/threads3/et3-$i.json" --event-threads 2,3; done
}

# 128 MiB per stream
size128() {
    for i in 1 2; do row "$OUT/size128/s128-$i.json" --size 128M; done
}

# each thread's run-queue wait (tools/sched-wait prints it to stderr)
schedwait() {
    .venv/bin/python tools/sched-wait -- sh "$OUT/run.sh" row "$OUT/sched-wait.json" \
        2> "$OUT/sched-wait.txt"
}

# every context switch of the machine over one bench of one server (perf data in /dev/shm,
# too big to keep), then idle.py's account of the idle periods
perfsched() {
    for s in gfrpc:2 glusterfsd:2 gfrpc:1; do
        server=${s%:*} threads=${s#*:}
        name=$server$( [ "$threads" = 1 ] && echo 1 || true )
        perf record -q -e sched:sched_switch -g -a -o "/dev/shm/sw-$name.data" -- \
            sh "$OUT/run.sh" row "$OUT/perf-sched/sw-$name.json" --server "$server" \
            --event-threads "$threads" --size 128M --repeats 1
        python3 "$OUT/idle.py" "/dev/shm/sw-$name.data" > "$OUT/perf-sched/idle-$name.txt"
    done
}

# what the brick's threads sleep on: 3 s of its context switches with their stacks, taken
# 5 s after the brick starts (the first bench row that runs), then gilwait.py's account
gilwait() {
    sh "$OUT/run.sh" row "$OUT/perf-sched/dw-gfrpc.json" --server gfrpc --size 128M \
        --repeats 1 &
    until pid=$(pgrep -f "gfrpc.* brick " | head -1); do sleep 0.25; done
    sleep 5
    perf record -q -e sched:sched_switch --call-graph dwarf,16384 -p "$pid" \
        -o /dev/shm/dw.data -- sleep 3
    wait
    python3 "$OUT/gilwait.py" /dev/shm/dw.data > "$OUT/perf-sched/gilwait.txt"
}

# the client's whole-part rule (tls.py _WHOLE_BESIDE, notes 68) at 14 and 20 connections, two
# counts 68 left unmeasured: A = b8aad09 (before the rule), K = 23e86f0 (whole beside eight),
# each a `git archive <commit> src` copy in /tmp/s/<tree> run by PYTHONPATH; summary: widesummary
wide() {
    mkdir -p "$OUT/wide"
    n=0
    for t in A K K A A K K A; do
        n=$((n + 1))
        PYTHONPATH=/tmp/s/$t/src .venv/bin/gfrpc bench-transport --tls on --repeats 3 \
            --pollers single,sharded --connections 14,20 --json "$OUT/wide/$n-$t.json" --quiet
    done
}

# wide's summary (wide.txt) by notes 68's beside8.py, which reads a directory beside itself
widesummary() {
    python3 -c 'import sys; f = "docs/bench/notes-69/beside8.py"; sys.argv = [f, "wide"]
exec(compile(open("docs/bench/notes-68/beside8.py").read(), f, "exec"), {"__file__": f})' \
        > "$OUT/wide.txt"
}

# the first bench run that records the machine's idle cores (machine_idle_cores)
idlerow() {
    row "$OUT/idle-row.json" --client fio,gfrpc
}

"$@"

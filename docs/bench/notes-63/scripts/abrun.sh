#!/bin/bash
# Alternate two trees through the smallfile command of notes 57-61: abrun.sh o n n o ...
# o = /tmp/s/o/src (7b1a556, before notes 62 and 63), n = /tmp/s/n/src (after). Output in
# docs/bench/notes-63/smallfile/<tag><i>.json and .log.
set -u
out="$(dirname "$0")/../smallfile"
i=${START:-0}
for t in "$@"; do
    i=$((i + 1))
    PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm /work/main/.venv/bin/gfrpc bench --workload smallfile \
        --client fio --server gfrpc,glusterfsd --poller sharded --event-threads 2 --tls both \
        --files 200 --repeats 3 --json "$out/$t$i.json" --quiet > "$out/$t$i.log" 2>&1
done

#!/bin/bash
# Performance notes 62 (docs/ARCHITECTURE.md): what was run, in order.
# The trees, each copied out with `git archive <commit> src | tar -x -C /tmp/s/<name>`, or cp -r:
#   /tmp/s/old = 7b1a556 (before)     /tmp/s/new = the RENAME and truncation predicates
#   (/tmp/s/inl = 7b1a556 with RENAME out of MAY_BLOCK, for a first look only)
# 1. the default smallfile run, 7b1a556 (smallfile-d250.*):
#      TMPDIR=/dev/shm gfrpc bench --workload smallfile --client fio --server gfrpc,glusterfsd \
#          --poller sharded --event-threads 2 --tls both --repeats 3 --json smallfile-d250.json
# 2. fio's system calls in the read pass, against each brick (fio-strace/):
#      FILES=250 ROUNDS=1 tools/in-netns .venv/bin/python docs/bench/notes-62/scripts/clientcpu.py strace
# 3. each brick's CPU per FOP, warm, one request at a time, the bricks taking turns:
#      tools/in-netns .venv/bin/python tools/fop-syscalls \
#          --against glusterfsd,gfrpc@/tmp/s/old/src,gfrpc@/tmp/s/new/src \
#          --phases stat,create,unlink,rename,truncate --cpu 5 -n 300 --uid 0|1000 \
#          --poller sharded --save cpu/uid0.json|cpu/uid1000.json      (cpu/uid0.txt, uid1000.txt)
# 4. system calls per FOP:
#      tools/in-netns .venv/bin/python tools/fop-syscalls \
#          --against gfrpc@/tmp/s/old/src,gfrpc@/tmp/s/new/src,glusterfsd --phases rename,truncate \
#          -n 200 --uid 1000 --poller sharded --save syscalls/uid1000.json   (syscalls/uid1000.txt)
here="$(dirname "$0")"
tail -n 7 "$here/cpu/uid0.txt"
tail -n 7 "$here/cpu/uid1000.txt"
tail -n 4 "$here/syscalls/uid1000.txt"

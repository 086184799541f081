#!/bin/bash
# Performance notes 63 (docs/ARCHITECTURE.md): what was run, in order.
# The trees: /tmp/s/base = 95ebc3b (`git archive 95ebc3b src | tar -x -C /tmp/s/base`),
#            /tmp/s/acl  = the ACL carry (cp -r src /tmp/s/acl/ before the commit).
# The bricks on tmpfs: on the VM's disk the create and mkdir rows moved by a third run to run.
# 1. each brick's CPU per FOP, warm, one request at a time, the bricks taking turns:
#      TMPDIR=/dev/shm tools/in-netns .venv/bin/python tools/fop-syscalls \
#          --against glusterfsd,gfrpc@/tmp/s/base/src,gfrpc@/tmp/s/acl/src \
#          --phases create,fresh,unlink,rename,mkdir,rmdir --cpu 7 -n 300 --uid 0|1000 \
#          --poller sharded --save cpu/uid0.json|cpu/uid1000.json      (cpu/uid0.txt, uid1000.txt)
# 2. system calls per FOP:
#      TMPDIR=/dev/shm tools/in-netns .venv/bin/python tools/fop-syscalls \
#          --against gfrpc@/tmp/s/base/src,gfrpc@/tmp/s/acl/src,glusterfsd \
#          --phases create,fresh,unlink,rename -n 200 --uid 0|1000 --poller sharded \
#          --save syscalls/uid0.json|syscalls/uid1000.json           (syscalls/uid*.txt)
here="$(dirname "$0")"
for f in cpu/uid0.txt cpu/uid1000.txt; do echo "== $f"; tail -n 8 "$here/$f"; done
for f in syscalls/uid0.txt syscalls/uid1000.txt; do echo "== $f"; tail -n 6 "$here/$f"; done
# 3. the bench, the tree before notes 62 (o = 7b1a556) against HEAD (n = ddcde53), alternated:
#      docs/bench/notes-63/scripts/abrun.sh o n n o; START=4 .../abrun.sh n o   (smallfile/)
cat "$here/smallfile/summary.txt"

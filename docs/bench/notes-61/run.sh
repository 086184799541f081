#!/bin/bash
# Performance notes 61 (docs/ARCHITECTURE.md): what was run, in order.
# The trees, each copied out with `git archive <commit> src | tar -x -C /tmp/s/<name>`:
#   /tmp/s/old  = 44ea419 (before)            /tmp/s/new  = e1a7ab1 (a gfid the brick set is kept)
#   /tmp/s/cur  = 55ad5c4 (+ a file's handle checked once per ctime)
#   /tmp/s/fin  = 77f56a7 (+ xattr names once per key set, CREATE through its fd)
#   /tmp/s/fin3 = 15cf30b (+ one mkdirat per new hash directory, faccessat for a gfid-req)
#   /tmp/s/noput = 15cf30b with InodeCache.put_own and carry made no-ops
# The bricks run from a tree through PYTHONPATH (tools/fop-syscalls: gfrpc@TREE/src).
# 1. each brick's CPU per FOP, warm, one request at a time, the bricks taking turns:
#      tools/fop-syscalls --against glusterfsd,gfrpc@/tmp/s/old/src,gfrpc@/tmp/s/fin/src \
#          --cpu 5 -n 300 --uid 0|1000 --poller sharded              (cpu/uid0.txt, uid1000.txt)
#      tools/fop-syscalls --against glusterfsd,gfrpc@/tmp/s/old/src,gfrpc@/tmp/s/fin/src,gfrpc@/tmp/s/fin3/src \
#          --cpu 7 -n 400 --uid 0 --poller sharded --phases create,fresh,qread,lookup   (cpu/uid0-create.txt)
# 2. system calls per FOP:
#      tools/fop-syscalls --against gfrpc@/tmp/s/old/src,gfrpc@/tmp/s/fin/src,glusterfsd -n 300 --uid 0 \
#          --poller sharded --phases create,fresh,qread,lookup               (syscalls/uid0.txt)
#      tools/fop-syscalls --against gfrpc@/tmp/s/fin/src,gfrpc@/tmp/s/fin3/src,glusterfsd -n 300 --uid 0 \
#          --poller sharded --phases create                                  (syscalls/create.txt)
# 3. bytecodes per request on the poller thread, each tree:
#      PYTHONPATH=TREE/src .venv/bin/python tools/poller-bytecodes --phase fresh|read|create --top 0
# 4. the bench (smallfile, fio, sharded x2, --files 200 --repeats 3):
#      scripts/abrun.sh o n n o n o     old against e1a7ab1, TLS both   (smallfile/)
#      scripts/abrun2.sh n o o n n o    old against 55ad5c4             (smallfile2/)
#      scripts/abrun3.sh o n n o o n    old against 77f56a7             (smallfile3/)
#      scripts/abrun4.sh x n n x x n    15cf30b without / with the puts, TLS off (noput/)
# 5. TMPDIR=/dev/shm gfrpc bench --compare --size 32M --files 50 --repeats 3 on 15cf30b
#      (docs/bench/compare-1245.*)
python3 "$(dirname "$0")/summary.py" "$(dirname "$0")" smallfile smallfile2 smallfile3 noput

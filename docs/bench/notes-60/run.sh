#!/bin/bash
# Performance notes 60 (docs/ARCHITECTURE.md): what was run, in order.
# 1. git worktree add /tmp/s/old fc7bf5e (before) and /tmp/s/wt (the change); the bench and
#    its bricks run from either tree through PYTHONPATH (scripts/*.sh: o = before, n = after).
# 2. bytecodes per request, each tree:
#      PYTHONPATH=TREE/src .venv/bin/python tools/poller-bytecodes --phase stat|read|create [--tls]
# 3. the poller thread's CPU per request, five alternations per row (cpu/round1.txt), the TLS
#    rows again (cpu/round2-tls.txt):
#      PYTHONPATH=TREE/src .venv/bin/python tools/poller-bytecodes --phase P [--tls] --cpu -n 3000
# 4. scripts/abrun.sh o n n o o n      (smallfile, fio; smallfile/)
#    scripts/statrun.sh o n n o o n    (the stat workload, gfrpc's client; stat/)
#    scripts/seqrun.sh o n n o, then START=4 scripts/seqrun.sh n o o n n o o n (the first four
#      ran seq-write and seq-read, the rest seq-read only; seq/)
#    scripts/partsrun.sh n x x n n x   (seq-read with the part limit off, noparts-switch.diff; parts/)
#    scripts/seqplain.sh o n n o       (seq-write and seq-read without TLS; seq-plain/)
# 5. python3 scripts/sched-batch.py normal|batch   (the SCHED_BATCH look, no bench)
python3 "$(dirname "$0")/summary.py"

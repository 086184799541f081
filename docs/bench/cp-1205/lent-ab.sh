#!/bin/bash
# The A/B of notes 54 (old = the tree before d51c05e in /tmp/old, a detached worktree at d67e27d).
# gfrpc cp -r (and cp -r on FUSE) into a gfrpc volume: the tree before d51c05e and with it, alternated
cd /work/main
for r in 1 2; do
  for t in old new; do
    if [ $t = old ]; then src=/tmp/old/src; else src=/work/main/src; fi
    PYTHONPATH=$src flock /tmp/gfrpc-interop.lock tools/in-netns .venv/bin/python tools/cp-bench --servers gfrpc --repeats 3 --json /tmp/cpab/cp-$t-r$r.json > /tmp/cpab/cp-$t-r$r.txt 2>&1
  done
done

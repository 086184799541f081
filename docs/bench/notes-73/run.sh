#!/bin/sh
# Performance notes 73: a finisher of the incomplete-record budget must finish its record within
# finish_timeout while others wait. Trees, each a `git archive <commit> src` copy under
# /tmp/s/<tree> run by PYTHONPATH: old = 8a2a27f, new = the change (as a copy of the work tree).
# The sweep at 1,000 TLS connections, the two trees alternated old new new old (sweep/*.json).
set -e
cd "$(dirname "$0")/../../.."
O=docs/bench/notes-73
for t in old new new old; do
  PYTHONPATH=/tmp/s/$t/src TMPDIR=/dev/shm .venv/bin/gfrpc bench --sweep-connections 1000 --tls on \
    --size 32M --poller single,sharded --event-threads 2 --repeats 3 \
    --json $O/sweep/$t-$(date +%H%M%S).json --quiet
done
# Whether a finisher ever ran out of time there: the new tree with review() appending a line to
# /tmp/demote.log whenever it pauses a late finisher, one more run (--repeats 1): no line.
# A hostile mix at a brick's default limits (hostile.txt), at 6c5dcef:
.venv/bin/python $O/hostile.py 0 0 20
.venv/bin/python $O/hostile.py 300 8 20
.venv/bin/python $O/hostile.py 300 8 20 0

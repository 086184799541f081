#!/bin/bash
# Notes 64, third part: the one cell of run.sh whose four runs per tree did not overlap
# (`sharded`, TLS on, one connection), again, with `single` beside it: ten alternated runs.
cd "$(dirname "$0")"
B=../../../.venv/bin/gfrpc
one() { # tag tree
  PYTHONPATH=/tmp/s/$2/src $B bench-transport --pollers single,sharded --connections 1 \
      --tls on --repeats 5 --json "tls1/$1.json" --quiet > "tls1/$1.txt"
}
one o1 old; one n1 new; one n2 new; one o2 old; one o3 old; one n3 new; one n4 new; one o4 old
one o5 old; one n5 new

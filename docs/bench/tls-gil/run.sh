#!/bin/sh
# Performance notes 52 (2026-12-05, Intel Xeon): what a TLS stream costs the brick's poller
# threads. Each step needs nothing else running on the machine.

# 1. System calls and context switches of the brick while fio writes 24 TLS streams of 512 MiB
#    (perf stat over 4 s of the steady state): sharded x2, x1, and x2 without the baton.
sh pstat.sh sharded 2; sh pstat.sh sharded 1; sh pstat.sh sharded 2 --baton off

# 2. Where the poller threads' wall time goes (py-spy --native, 6 s at 200 Hz, the same load);
#    gil-classes.py sorts the samples: pyspy-native-sharded2-tls-seqwrite.raw.gz is this run's.
#    py-spy record --native -p BRICK -d 6 -r 200 -f raw -o samples.raw
zcat pyspy-native-sharded2-tls-seqwrite.raw.gz > /tmp/samples.raw && python3 gil-classes.py /tmp/samples.raw

# 3. Feeding a big read to the session in slices (chunked-feed.diff, GFRPC_X_FEED in that
#    tree): three alternated rounds, feed-{whole,32k,64k}-rN.json
#    gfrpc bench --workload seq-write --client fio --server gfrpc --poller sharded \
#        --event-threads 2 --tls on --size 128M --repeats 3 --json feed-...json

# 4. Two receiver threads in one process, the endpoint's MemoryBIO way against SSLSocket
#    (a forked sender writes 8 x 256 MiB): three rounds each
for i in 1 2 3; do python3 tlsrecv.py bio --mib 256; python3 tlsrecv.py sock --mib 256; done

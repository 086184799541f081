"""Scratch: run `gfrpc brick ...` and log its ShardedPoller's loads and shard threads' CPU ticks to $SHARDLOG."""
import gc, sys, threading, time, os
from gfrpc.transport.pollers.sharded import ShardedPoller
def watch():
    out = open(os.environ["SHARDLOG"], "w")
    t0 = time.monotonic()
    ps = []
    while True:
        time.sleep(0.25)
        if not ps:
            ps = [o for o in gc.get_objects() if isinstance(o, ShardedPoller)]
        cpu = []
        for th in threading.enumerate():
            if th.name.startswith("gfrpc-shard-"):
                try:
                    f = open(f"/proc/self/task/{th.native_id}/stat").read().rsplit(")", 1)[1].split()
                    cpu.append((th.name[-1], int(f[11]) + int(f[12])))
                except OSError:
                    pass
        for p in ps:
            out.write(f"{time.monotonic()-t0:6.2f} loads {p.shard_loads()} heavy {p.heavy_loads()} cpu {sorted(cpu)}\n")
        out.flush()
threading.Thread(target=watch, daemon=True).start()
from gfrpc.cli import main
sys.argv = ["gfrpc"] + sys.argv[1:]
sys.exit(main())

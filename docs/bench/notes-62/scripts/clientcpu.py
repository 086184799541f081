"""Performance notes 62: stage a glusterfsd and a gfrpc brick (sharded x2, TLS off) with the
bench's Stage, then run fio's smallfile create pass and read pass (24 jobs x FILES files of
4 KiB, names in the volume's root) against each, ROUNDS times; with the argument `strace` the
read pass runs under `strace -f -c` (out/<tag>-strace.txt: fio's system calls, all of its
threads). The CPU it prints is of whole processes (gfapi's set-up included), not the bench's
I/O window: use it for the system call counts only.

    FILES=250 ROUNDS=1 tools/in-netns .venv/bin/python docs/bench/notes-62/scripts/clientcpu.py strace
"""
import json, os, subprocess, sys, time, resource
from pathlib import Path
from gfrpc.bench.experiment.stage import Stage
from gfrpc.bench.experiment.model import ServerSpec

mode = sys.argv[1] if len(sys.argv) > 1 else "time"
files = int(os.environ.get("FILES", "250"))
rounds = int(os.environ.get("ROUNDS", "3"))
specs = [ServerSpec("glusterfsd", False, None, 2), ServerSpec("gfrpc", False, "sharded", 2)]
out = Path("/tmp/exp/out"); out.mkdir(exist_ok=True)
with Stage(specs, say=lambda m: print(m, file=sys.stderr)) as st:
    tg = {s.kind: st.target(s) for s in specs}
    for r in range(rounds):
        for kind, t in tg.items():
            tag = f"r{r}{kind[:2]}"
            base = ["fio", "--name=j", "--ioengine=gfapi", f"--volume={t.volname}", f"--brick={t.fio_host}",
                    "--numjobs=24", f"--filename_format=/{tag}.$jobnum.$filenum",
                    f"--nrfiles={files}", "--filesize=4096", f"--size={files*4096}", "--bs=4096", "--openfiles=1",
                    "--output-format=json"]
            subprocess.run(base + ["--rw=write", "--create_on_open=1", f"--output={out}/{tag}-w.json"], check=True)
            def cpu(pids):
                tot = 0
                for p in pids:
                    f = open(f"/proc/{p}/stat").read().rsplit(")",1)[1].split()
                    tot += int(f[11]) + int(f[12])
                return tot / os.sysconf("SC_CLK_TCK")
            s0 = cpu(t.server_pids)
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cmd = base + ["--rw=read", f"--output={out}/{tag}-r.json"]
            if mode == "strace":
                cmd = ["strace", "-f", "-c", "-o", f"{out}/{tag}-strace.txt"] + cmd
            if mode == "perf":
                cmd = ["perf", "stat", "-e", "task-clock,context-switches,cpu-migrations", "-o", f"{out}/{tag}-perf.txt", "--"] + cmd
            t0 = time.monotonic()
            subprocess.run(cmd, check=True)
            wall = time.monotonic() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            s1 = cpu(t.server_pids)
            n = 24 * files
            print(f"{kind:10s} round {r}: client cpu/file {(ru1.ru_utime+ru1.ru_stime-ru0.ru_utime-ru0.ru_stime)/n*1e6:.1f} us  server cpu/file {(s1-s0)/n*1e6:.1f} us  wall {wall:.2f}s", flush=True)

"""What the brick's threads sleep on (performance notes 69).

Usage: python3 gilwait.py PERF.DATA
(from ``perf record -e sched:sched_switch --call-graph dwarf,16384 -p BRICK``).

For each switch away from a brick thread that went to sleep in a futex: whether it sleeps
in CPython's GIL (``PyEval_RestoreThread`` or ``PyEval_SaveThread`` on its stack: taking the
GIL back after a call that let it go) or on a Python lock (``PyThread_acquire_lock_timed``);
and, for the GIL, which shared object made the call it comes back from (CPython's static
functions have no symbols in Debian's build, the objects do).
"""

from __future__ import annotations

import collections
import sys

from idle import perf_script  # this directory's idle.py


def blocks(path: str):
    for block in perf_script(path, "tid,time,trace,ip,sym,dso").split("\n\n"):
        lines = block.strip().splitlines()
        if lines and "prev_state=S" in lines[0]:
            frames = []
            for line in lines[1:]:
                parts = line.strip().split(None, 1)
                frames.append(parts[1] if len(parts) > 1 else "")
            yield frames


def main(path: str) -> None:
    kinds: collections.Counter[str] = collections.Counter()
    after: collections.Counter[str] = collections.Counter()
    for frames in blocks(path):
        if not any("futex" in f for f in frames):
            continue
        names = [f.split(" (")[0] for f in frames]
        if "PyThread_acquire_lock_timed" in names:
            kinds["a Python lock"] += 1
        elif "PyEval_RestoreThread" in names:
            kinds["the GIL, taken back after a call"] += 1
            i = names.index("PyEval_RestoreThread")
            dso = frames[i + 1].rpartition("(")[2].rstrip(")") if i + 1 < len(frames) else "?"
            after[dso.rpartition("/")[2]] += 1
        elif "PyEval_SaveThread" in names:
            kinds["the GIL, let go"] += 1
        else:
            kinds["other"] += 1
    total = sum(kinds.values())
    print(f"futex sleeps of the brick's threads: {total}")
    for k, v in kinds.most_common():
        print(f"  {k:<36} {v:6d}  {v / total:6.1%}")
    back = sum(after.values())
    print("the GIL taken back after a call made by:")
    for k, v in after.most_common():
        print(f"  {k:<36} {v:6d}  {v / back:6.1%}")


if __name__ == "__main__":
    main(sys.argv[1])

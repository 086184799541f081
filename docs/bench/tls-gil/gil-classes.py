#!/usr/bin/env python3
"""Where a brick's poller threads spend their wall time, from ``py-spy record --native -f raw``.

Usage: gil-classes.py SAMPLES.raw [THREAD-FRAME]   (default frame: ShardedPoller._run)

Each sample of a poller thread is put in one class by its native frames: waiting for the GIL
(``pthread_cond_timedwait`` under a Python frame: CPython's take_gil), in OpenSSL with the GIL
let go (``SSL_read_ex``/``SSL_write``), in a system call with the GIL let go (recv, send,
pwrite, epoll_wait...), in libcrypto/libssl with the GIL held (``MemoryBIO.write``'s copy and
``BUF_MEM_grow_clean``'s memset), or else holding the GIL (the interpreter). The GIL-held
samples are then listed by their innermost Python frame. Used for Performance notes 52.
"""

import collections
import sys

path = sys.argv[1]
frame = sys.argv[2] if len(sys.argv) > 2 else "ShardedPoller._run"
classes: collections.Counter[str] = collections.Counter()
held: collections.Counter[str] = collections.Counter()
total = 0
for line in open(path):
    stack, n_text = line.rsplit(" ", 1)
    if frame not in stack:
        continue
    n = int(n_text)
    total += n
    frames = stack.split(";")
    native_tail = stack.split(".py:")[-1]
    if "pthread_cond_timedwait" in stack:
        kind = "waiting for the GIL"
    elif "SSL_read_ex" in stack or "SSL_write" in native_tail:
        kind = "OpenSSL, GIL let go"
    elif any(
        s in "".join(frames[-3:])
        for s in ("recv (", "send (", "pwrite64", "epoll_wait", "sendmsg", "fstatat")
    ):
        kind = "system call, GIL let go"
    elif "libcrypto" in native_tail or "libssl" in native_tail:
        kind = "libcrypto/libssl, GIL held"
    else:
        kind = "interpreter, GIL held"
    classes[kind] += n
    if "GIL held" in kind:
        py = [f for f in frames if ".py:" in f or "<string>" in f]
        held[py[-1] if py else frames[-1]] += n
for k, v in classes.most_common():
    print(f"{100 * v / total:5.1f} %  {k}")
print("GIL held, by innermost Python frame:")
for k, v in held.most_common(15):
    print(f"{100 * v / total:5.1f} %  {k}")

import os, timeit
fd = os.open("/dev/shm", os.O_RDONLY)
def raw():
    try: os.stat("nope-x", dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError: pass
def f1(): return os.stat("nope-x", dir_fd=fd, follow_symlinks=False)
def f2(): return f1()
def f3(): return f2()
def f4(): return f3()
def f5(): return f4()
def deep():
    try: f5()
    except OSError as e: return e.errno
def ok():
    return os.stat(".", dir_fd=fd, follow_symlinks=False)
n=200000
for name, fn in [("stat ok", ok), ("stat ENOENT caught at once", raw), ("ENOENT through 5 frames", deep)]:
    print(name, round(min(timeit.repeat(fn, number=n, repeat=3))/n*1e6, 2), "us")

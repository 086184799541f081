import ctypes, gc, sys, time
sys.argv = ["x", "262144", "65536"]
exec(open("biomem.py").read())
half = pairs[::2]
del pairs
gc.collect()
print("half closed", rss())
libc = ctypes.CDLL(None)
t = time.perf_counter(); libc.malloc_trim(0); dt = time.perf_counter() - t
print(f"after malloc_trim {rss()} MB in {dt*1000:.1f} ms")
t = time.perf_counter(); libc.malloc_trim(0); dt = time.perf_counter() - t
print(f"again: {dt*1000:.2f} ms")

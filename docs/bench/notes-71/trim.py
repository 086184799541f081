import ctypes, gc, sys
sys.argv = ["x", "262144", "65536"]
exec(open("biomem.py").read())
del pairs
gc.collect()
print("after closing all", rss())
ctypes.CDLL("libc.so.6").malloc_trim(0)
print("after malloc_trim", rss())

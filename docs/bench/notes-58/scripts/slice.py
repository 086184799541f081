"""Set (or read) the EEVDF slice (sched_attr.sched_runtime) of every thread of the given pids."""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_sched_setattr, SYS_sched_getattr = 314, 315
class Attr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("policy", ctypes.c_uint32), ("flags", ctypes.c_uint64),
                ("nice", ctypes.c_int32), ("priority", ctypes.c_uint32), ("runtime", ctypes.c_uint64),
                ("deadline", ctypes.c_uint64), ("period", ctypes.c_uint64), ("util_min", ctypes.c_uint32), ("util_max", ctypes.c_uint32)]
def get(tid):
    a = Attr(); r = libc.syscall(SYS_sched_getattr, tid, ctypes.byref(a), ctypes.sizeof(a), 0)
    if r: raise OSError(ctypes.get_errno(), "getattr")
    return a
def set_slice(tid, ns):
    a = get(tid); a.size = ctypes.sizeof(a); a.runtime = ns; a.flags = 0
    r = libc.syscall(SYS_sched_setattr, tid, ctypes.byref(a), 0)
    if r: raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
if __name__ == "__main__":
    ns = int(float(sys.argv[1]) * 1e6) if sys.argv[1] != "get" else None
    for pid in sys.argv[2:]:
        for tid in os.listdir(f"/proc/{pid}/task"):
            if ns is not None: set_slice(int(tid), ns)
            a = get(int(tid)); print(pid, tid, "policy", a.policy, "nice", a.nice, "slice ns", a.runtime)

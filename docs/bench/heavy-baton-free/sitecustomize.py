import os, sys
_v = os.environ.get("XSWITCH")
if _v:
    sys.setswitchinterval(float(_v))
if os.environ.get("XBATON") and "brick" in sys.argv:
    import threading, time
    from gfrpc.transport import baton as _b
    _pc = time.perf_counter
    _st = {"held": 0.0, "wait": 0.0, "n": 0, "out": 0, "t": {}}
    _L = _b.Baton
    def _enter(self):
        t0 = _pc(); self._lock.acquire(); t1 = _pc()
        _st["wait"] += t1 - t0; _st["n"] += 1; _st["t"][threading.get_ident()] = t1
        self._holder = threading.get_ident()
    def _exit(self, *exc):
        me = threading.get_ident(); _st["held"] += _pc() - _st["t"].pop(me, _pc())
        self._holder = 0; self._lock.release()
    def _outside(self, fn, *args):
        me = threading.get_ident()
        if self._holder != me:
            return fn(*args)
        self.outside += 1; _st["out"] += 1
        _st["held"] += _pc() - _st["t"].pop(me, _pc())
        self._holder = 0; self._lock.release()
        try:
            return fn(*args)
        finally:
            t0 = _pc(); self._lock.acquire(); t1 = _pc(); _st["wait"] += t1 - t0
            _st["t"][me] = t1; self._holder = me
    _L.__enter__ = _enter; _L.__exit__ = _exit; _L.call_outside = _outside
    def _dump():
        t0 = _pc()
        while True:
            time.sleep(0.5)
            with open(os.environ["XBATON"], "a") as f:
                f.write(f"{_pc()-t0:.2f} held {_st['held']:.3f} wait {_st['wait']:.3f} n {_st['n']} out {_st['out']}\n")
    threading.Thread(target=_dump, daemon=True).start()

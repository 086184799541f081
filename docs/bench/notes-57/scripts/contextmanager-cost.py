import timeit
from contextlib import contextmanager
class F: pass
f = F()
@contextmanager
def gen(x):
    if x != -2:
        yield f
        return
    yield f
class Cm:
    __slots__ = ("v", "close")
    def __init__(self, v, close): self.v = v; self.close = close
    def __enter__(self): return self.v
    def __exit__(self, *a):
        if self.close: self.v.close()
def cls(x):
    return Cm(f, False)
def use(cm):
    with cm(1) as g: pass
n = 500000
for name, cm in [("generator cm", gen), ("class cm", cls)]:
    print(name, round(min(timeit.repeat(lambda: use(cm), number=n, repeat=3))/n*1e6, 3), "us")

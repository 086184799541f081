"""Notes 53: iatt_fields plus a reply's encoding, timed (run with PYTHONPATH set to the tree)."""
import os, timeit, sys
from gfrpc.services.brick.store import iatt as I
from gfrpc.programs import fops as fp
st = os.stat("/tmp"); g = os.urandom(16)
def miss():
    I._MADE.clear()
    a = I.iatt_fields(g, st); b = I.iatt_fields(g, st, handle_link=True)
    r = fp.GfxCreateRsp(op_ret=0, op_errno=0, stat=a, fd=1, preparent=b, postparent=b)
    return r.pack()
def hit():
    a = I.iatt_fields(g, st); b = I.iatt_fields(g, st, handle_link=True)
    r = fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=a, poststat=b)
    return r.pack()
def fields():
    a = I.iatt_fields(g, st)
    return a.mode + a.ia_size + a.ia_uid + a.ia_gid
for f in (miss, hit, fields):
    t = min(timeit.repeat(f, number=20000, repeat=7)) / 20000 * 1e6
    print(f"{f.__name__:7} {t:.2f} us")

import sys, uuid, os, subprocess, re, time, tempfile
sys.path.insert(0, 'tools')
from pathlib import Path
from gfrpc.wire.gfdict import GfValue, GfType
from gfrpc.programs import fops as fp
import importlib.util, importlib.machinery
loader = importlib.machinery.SourceFileLoader('fs', 'tools/fop-syscalls')
spec = importlib.util.spec_from_loader('fs', loader); fs = importlib.util.module_from_spec(spec); loader.exec_module(fs)

def probe(address, brick_path):
    poller, root, user = fs.clients(address, brick_path, 0)
    try:
        w = fs.Workload(root, user)
        asked = {"glusterfs.content": GfValue(GfType.UINT, 64*1024), "security.capability": GfValue(GfType.INT, 0),
                 "security.ima": GfValue(GfType.INT, 0), "gfid-req": uuid.uuid4()}
        rsp = user.lookup(w.work, "f1", xdata=asked)
        print('op_ret', rsp.op_ret, 'xdata', {k: (type(v).__name__, len(v) if hasattr(v,'__len__') else v) for k, v in (rsp.xdata or {}).items()})
        print('prestat', rsp.prestat)
        print('poststat', rsp.poststat)
    finally:
        root.close(); user.close(); poller.stop()

from gfrpc.testing.realgluster import GlusterD
gd = GlusterD.start()
try:
    vol = gd.create_volume()
    print('== glusterfsd'); probe(vol.address, str(vol.brick_path))
finally:
    gd.stop()
tmp = Path(tempfile.mkdtemp(dir='/dev/shm'))
brick = tmp / 'b'; brick.mkdir(); log = tmp / 'log'
proc = subprocess.Popen([sys.executable, '-m', 'gfrpc.cli', 'brick', '--dir', str(brick), '--port', '0', '--host', '127.0.0.1', '--volname', 'v'], stdout=open(log,'wb'), stderr=subprocess.STDOUT)
try:
    while True:
        m = re.search(r"ready on 127\.0\.0\.1:(\d+)", log.read_text(errors='replace'))
        if m: break
        time.sleep(0.05)
    print('== gfrpc'); probe(f'127.0.0.1:{m.group(1)}', str(brick))
finally:
    proc.terminate(); proc.wait()

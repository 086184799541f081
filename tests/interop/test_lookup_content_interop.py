"""quick-read's LOOKUP content against a real GlusterFS 10.3 brick, beside the gfrpc brick's
answers (tests/services/test_lookup_content.py): the real brick answers the bytes of a small
file in the LOOKUP, as gfrpc does, and answers them to a caller who may not read the file,
which gfrpc deliberately does not (the client would serve them without the OPEN that checks
the permission)."""

from __future__ import annotations

import os
import uuid

import pytest
from brick_fops_support import ROOT, FopClient, P, cred

from gfrpc.programs import fops as fp
from gfrpc.services.brick.fops.common import CONTENT_KEY
from gfrpc.wire.gfdict import GfType, GfValue

pytestmark = pytest.mark.timeout(120)

ASK = {CONTENT_KEY: GfValue(GfType.UINT, 64 * 1024)}


def _content(reply: object) -> bytes | None:
    value = (getattr(reply, "xdata", None) or {}).get(CONTENT_KEY)
    return None if value is None else bytes(getattr(value, "value", value))


def test_real_brick_answers_lookup_content_even_to_a_non_reader(real_fops: FopClient) -> None:
    """A real glusterfsd puts a small file's bytes in its LOOKUP reply when asked, and does so
    for uid 1000 on a root-owned 0600 file: the permission gfrpc checks before answering."""
    name = f"qr-{uuid.uuid4().hex[:8]}"
    data = b"small file, read by quick-read"
    req = fp.GfxCreateReq(
        pargfid=ROOT,
        bname=name,
        flags=os.O_RDWR | os.O_CREAT,
        mode=0o600,
        umask=0o022,
        xdata={"gfid-req": uuid.uuid4()},  # a real posix refuses a CREATE without it
    )
    r = real_fops.call(P.CREATE, req)
    assert r.op_ret == 0, r
    gfid = bytes(r.stat.ia_gfid)
    assert real_fops.write(gfid, r.fd, 0, data).op_ret == len(data)
    real_fops.release(gfid, r.fd)
    assert _content(real_fops.lookup(ROOT, name, xdata=ASK)) == data
    stranger = cred(1000, 1000)
    req = fp.GfxLookupReq(pargfid=ROOT, bname=name, xdata=ASK)
    r = real_fops.call(P.LOOKUP, req, cred=stranger)
    assert r.op_ret == 0
    assert _content(r) == data  # gfrpc: None (test_lookup_content.py)

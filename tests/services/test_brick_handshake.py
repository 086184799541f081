"""The brick's SETVOLUME checks, in GlusterFS's order and with its errno values."""

from __future__ import annotations

import errno
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from gfrpc.client import volfile as vf
from gfrpc.programs import handshake as hs
from gfrpc.rpc import RpcClient, RpcServer
from gfrpc.services.brick.handshake import BrickIdentity, HandshakeService
from gfrpc.transport import make_poller
from gfrpc.wire.gfdict import as_str, decode_serialized_dict, encode_serialized_dict

pytestmark = pytest.mark.timeout(30)

BRICK = "/data/brick1"
VOLUME_ID = "cc074f3f-68e8-46fd-9ca5-d0c2c9c932d3"


def good_params(**changes: Any) -> dict[str, Any]:
    """What a real GlusterFS 10.3 FUSE client sends (keys from a captured SETVOLUME)."""
    params: dict[str, Any] = {
        "opversion": 100000,
        "clnt-lk-version": 1,
        "client-version": "10.3",
        "process-uuid": (
            "CTX_ID:fb4b769b-GRAPH_ID:0-PID:29800-HOST:vm-PC_NAME:v-client-0-RECON_NO:-0"
        ),
        "fops-version": 1298437,
        "remote-subvolume": BRICK,
        "remote-port": 49152,
        "remote-host": "127.0.0.1",
        "transport-type": "socket",
    }
    for key, value in changes.items():
        key = key.replace("_", "-")
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


@pytest.fixture
def brick(request: pytest.FixtureRequest) -> Iterator[Any]:
    marker = request.node.get_closest_marker("identity")
    kwargs = marker.kwargs if marker else {}
    tls = kwargs.pop("tls_pair", None)
    poller = make_poller("single")
    poller.start()
    server = RpcServer(poller, workers=2)
    ident = BrickIdentity(
        brick_path=BRICK, volname="v", volume_id=VOLUME_ID, tls=tls is not None, **kwargs
    )
    server.register(HandshakeService(ident).program())
    listener = server.listen("127.0.0.1:0", tls=tls[0] if tls else None)
    clients: list[RpcClient] = []

    def setvolume(
        params: dict[str, Any] | bytes, client_ctx: ssl.SSLContext | None = None
    ) -> tuple[int, int, dict[str, str]]:
        c = RpcClient(listener.address, poller=poller, tls=client_ctx)
        clients.append(c)
        c.connect()
        body = c.call(
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.SETVOLUME,
            hs.GfSetvolumeReq(
                dict=params if isinstance(params, bytes) else encode_serialized_dict(params)
            ).pack(),
        ).body
        rsp = hs.GfSetvolumeRsp.unpack(body)
        return (
            rsp.op_ret,
            rsp.op_errno,
            {k: as_str(v) for k, v in decode_serialized_dict(rsp.dict).items()},
        )

    yield setvolume
    for c in clients:
        c.close()
    server.close()
    poller.stop()


def test_real_client_dict_is_accepted_with_the_keys_clients_read(brick) -> None:
    """A real client's SETVOLUME dict gets op_ret 0 and ERROR/child_up/volume-id/process-uuid."""
    op_ret, op_errno, reply = brick(good_params())
    assert (op_ret, op_errno) == (0, 0)
    assert reply["ERROR"] == "Success" and reply["child_up"] == "1"
    assert reply["volume-id"] == VOLUME_ID
    assert reply["process-uuid"] and reply["clnt-lk-version"] == "0" and "transport-ptr" in reply


@pytest.mark.parametrize(
    "changes, code, text",
    [
        ({"remote_subvolume": None}, errno.EINVAL, "No remote-subvolume"),
        ({"remote_subvolume": "/other/brick"}, errno.ENOENT, "is not found"),
        ({"process_uuid": None}, errno.EINVAL, "UUID not specified"),
        (
            {"volume_id": "00000000-1111-2222-3333-444444444444"},
            errno.EINVAL,
            "Volume-ID different",
        ),
        ({"fops_version": 1298438}, errno.EINVAL, "version mismatch"),
        ({"fops_version": None}, errno.EINVAL, "version mismatch"),
    ],
)
def test_refusals_carry_glusterfs_errno(brick, changes, code, text) -> None:
    """Each SETVOLUME check refuses with GlusterFS's errno and an ERROR text."""
    op_ret, op_errno, reply = brick(good_params(**changes))
    assert (op_ret, op_errno) == (-1, code)
    assert text in reply["ERROR"]


@pytest.mark.identity(allow=["10.*"])
def test_auth_allow_refuses_other_addresses_with_eacces(brick) -> None:
    """An address outside --allow globs fails SETVOLUME with EACCES."""
    assert brick(good_params())[:2] == (-1, errno.EACCES)


@pytest.mark.identity(allow=["10.*", "127.0.0.*"])
def test_auth_allow_accepts_matching_addresses(brick) -> None:
    """An address that matches one of the --allow globs is accepted."""
    assert brick(good_params())[:2] == (0, 0)


_CA = trustme.CA()


def _ctx(server: bool, cn: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    _CA.configure_trust(ctx)
    _CA.issue_cert(cn, common_name=cn).configure_cert(ctx)
    return ctx


_PAIR = (_ctx(True, "brick"), None)


@pytest.mark.identity(ssl_allow=["client-*"], tls_pair=_PAIR)
def test_ssl_allow_checked_at_setvolume(brick) -> None:
    """On a TLS brick, a CN outside --ssl-allow fails SETVOLUME with EACCES; a matching CN
    is accepted; a CN smuggled in the dict as ssl-name is ignored."""
    assert brick(good_params(), _ctx(False, "client-7"))[:2] == (0, 0)
    assert brick(good_params(), _ctx(False, "intruder"))[:2] == (-1, errno.EACCES)
    assert brick(good_params(ssl_name="client-1"), _ctx(False, "intruder"))[:2] == (
        -1,
        errno.EACCES,
    )


def test_garbage_dict_is_einval(brick) -> None:
    """A dict that does not decode is EINVAL, not a dropped connection."""
    raw = b"\x00\x00\x00\x01\x80\x00\x00\x00\x00\x00\x00\x01"  # a key of 2 GiB
    op_ret, op_errno, reply = brick(raw)
    assert (op_ret, op_errno) == (-1, errno.EINVAL)
    assert brick(good_params())[:2] == (0, 0)


def test_getspec_returns_a_client_volfile() -> None:
    """GETSPEC on a brick returns a volfile whose protocol/client names this brick, under the
    client translators mgmtd's volumes have by default (quick-read among them), topped by
    io-stats named after the volume."""
    ident = BrickIdentity(brick_path=BRICK, volname="v", volume_id=VOLUME_ID, port=49152)
    text = HandshakeService(ident).client_volfile()
    assert "type protocol/client" in text and f"option remote-subvolume {BRICK}" in text
    assert "option remote-port 49152" in text
    graph = vf.parse(text)
    assert graph.volumes[-1].name == "v" and graph.volumes[-1].type == "debug/io-stats"
    assert "v-quick-read" in graph and "v-utime" not in graph
    assert [b.remote_port for b in vf.client_bricks(graph)] == [49152]

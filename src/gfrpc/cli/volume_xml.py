"""``gfrpc volume --xml``: the XML documents the stock ``gluster --xml`` prints, from the same
replies.

Theory of operation. glusterd sends no XML: the stock CLI (GlusterFS 10.3, cli-xml-output.c)
builds each document itself from a reply's ``op_ret``, ``op_errno``, ``op_errstr`` and dict.
``gfrpc volume`` sends the same calls (``gfrpc.client.cli_client``) and keeps the raw replies,
so the builders below read the same keys and write the same elements in the same order, quirks
included: ``distCount`` is bricks per distribute leaf, an option's name is what is left of its
key after the part it shares with ``volumeN.option.``, ``inodeSize`` holds the file system name.
The dict is walked as the CLI walks it, newest pair first, which is the reverse of the wire
order (glusterfs' dict prepends each pair it unserializes).

The text is libxml2's ``xmlSaveFormatFileEnc(..., format=1)``, as the CLI calls it: the XML
declaration, then elements whose content is only elements, each child on its own line indented
two spaces a level; an element with text in it (a ``<brick>``) on one line with its children;
an empty element as ``<x/>``; ``& < >`` and CR escaped in text, ``"`` and TAB/LF/CR too in
attributes. A value with characters XML cannot carry (control characters) makes the stock
CLI print nothing and exit 1; :func:`to_text` refuses it the same way.

The CLI prints a document (exit 0) for refused commands as well: the refusal is in
``opRet``/``opErrno``/``opErrstr``.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence

from gfrpc.client.cli_client import CliReply
from gfrpc.errors import RemoteProtocolError
from gfrpc.programs.cli import ClusterType, StatusFlag
from gfrpc.wire.gfdict import as_int

__all__ = [
    "VOLUME_STATUS_WORDS",
    "VOLUME_TYPE_WORDS",
    "cli_output",
    "generic_volume",
    "output_str",
    "to_text",
    "vol_create",
    "vol_info",
    "vol_list",
    "vol_status",
    "volume_type",
]

#: cli_vol_status_str: a volume's ``status`` 0, 1, 2 in words
VOLUME_STATUS_WORDS = ("Created", "Started", "Stopped")
#: vol_type_str (libglusterfs): indexed by :func:`volume_type`
VOLUME_TYPE_WORDS = (
    "Distribute",
    "Stripe [NOT SUPPORTED from v6.0]",
    "Replicate",
    "Striped-Replicate [NOT SUPPORTED from v6.0]",
    "Disperse",
    "Tier [NOT SUPPORTED from v6.0]",
    "Distributed-Stripe [NOT SUPPORTED from v6.0]",
    "Distributed-Replicate",
    "Distributed-Striped-Replicate [NOT SUPPORTED from v6.0]",
    "Distributed-Disperse",
)
#: cli_vol_task_status_str: a status task's ``status`` in words
TASK_STATUS_WORDS = (
    "not started",
    "in progress",
    "stopped",
    "completed",
    "failed",
    "fix-layout in progress",
    "fix-layout stopped",
    "fix-layout completed",
    "fix-layout failed",
    "reset due to replace-brick",
    "reset due to reset-brick",
    "unknown",
)
_CLUSTER_TYPE_MAX = len(ClusterType)  # GF_CLUSTER_TYPE_MAX
#: what XML 1.0 cannot carry (libxml2 refuses to write it; the CLI then prints nothing)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
Status = tuple[int, int, str]  # op_ret, op_errno, op_errstr of the document's head


def volume_type(kind: int, dist_count: int, brick_count: int) -> int:
    """get_vol_type: a replicate or disperse volume of several leaves is "Distributed-"."""
    if kind != ClusterType.TIER and kind > 0 and dist_count < brick_count:
        return kind + _CLUSTER_TYPE_MAX - 1
    return kind


# ---- reading a reply dict as the CLI does ---------------------------------------------------


def _get(d: Mapping[str, str], key: str) -> str:
    try:
        return d[key]
    except KeyError:
        raise RemoteProtocolError(f"the daemon's reply has no {key!r}") from None


def _int(d: Mapping[str, str], key: str) -> int:
    try:
        return as_int(_get(d, key).encode("utf-8", "surrogateescape"))
    except ValueError as e:
        raise RemoteProtocolError(f"the daemon's reply: {key}: {e}") from None


def _words(table: Sequence[str], index: int) -> str:
    return table[index] if 0 <= index < len(table) else str(index)


# ---- building -------------------------------------------------------------------------------


def _add(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    e = ET.SubElement(parent, tag)
    if text is not None:
        e.text = str(text)
    return e


def cli_output(status: Status) -> ET.Element:
    """``<cliOutput>`` with ``opRet``, ``opErrno`` and ``opErrstr`` (cli_xml_output_common)."""
    root = ET.Element("cliOutput")
    op_ret, op_errno, op_errstr = status
    _add(root, "opRet", op_ret)
    _add(root, "opErrno", op_errno)
    _add(root, "opErrstr", op_errstr or "")
    return root


def _head(reply: CliReply) -> Status:
    return reply.op_ret, reply.op_errno, reply.op_errstr


def output_str(op: str, text: str, reply: CliReply) -> ET.Element:
    """The common head, then ``<cliOp>op</cliOp><output>text</output>`` (volume set, reset and
    a refused status)."""
    root = cli_output(_head(reply))
    _add(root, "cliOp", op)
    _add(root, "output", text)
    return root


def vol_list(reply: CliReply) -> ET.Element:
    """``volume list``: ``<volList>`` with ``count`` and a ``volume`` per name."""
    root = cli_output(_head(reply))
    out = _add(root, "volList")
    count = _int(reply.dict, "count")
    _add(out, "count", count)
    for i in range(count):
        _add(out, "volume", _get(reply.dict, f"volume{i}"))
    return root


def vol_create(reply: CliReply) -> ET.Element:
    """``volume create``: ``<volCreate><volume>`` with the name and the new volume-id, when it
    succeeded."""
    root = cli_output(_head(reply))
    if reply.op_ret == 0:
        vol = _add(_add(root, "volCreate"), "volume")
        _add(vol, "name", _get(reply.dict, "volname"))
        _add(vol, "id", _get(reply.dict, "volume-id"))
    return root


def generic_volume(op: str, reply: CliReply) -> ET.Element:
    """``volume start|stop|delete``: ``<volStart>`` (``op``) ``<volume>`` with the name and
    the volume's id, when it succeeded."""
    root = cli_output(_head(reply))
    if reply.op_ret == 0:
        vol = _add(_add(root, op), "volume")
        _add(vol, "name", _get(reply.dict, "volname"))
        _add(vol, "id", _get(reply.dict, "vol-id"))
    return root


# ---- volume info ----------------------------------------------------------------------------


def vol_info(status: Status, dicts: Iterable[Mapping[str, str]]) -> ET.Element:
    """``volume info``: ``<volInfo><volumes>``, every volume of ``dicts`` (GET_VOLUME replies:
    one for a named volume, the GET_NEXT walk for all), then the ``count`` of them."""
    root = cli_output(status)
    volumes = _add(_add(root, "volInfo"), "volumes")
    total = 0
    for d in dicts:
        total += _info_volumes(volumes, d) if d else 0
    _add(volumes, "count", total)
    return root


def _info_volumes(parent: ET.Element, d: Mapping[str, str]) -> int:
    count = _int(d, "count")
    for i in range(count):
        p = f"volume{i}"
        vol = _add(parent, "volume")
        _add(vol, "name", _get(d, f"{p}.name"))
        _add(vol, "id", _get(d, f"{p}.volume_id"))
        status = _int(d, f"{p}.status")
        _add(vol, "status", status)
        _add(vol, "statusStr", _words(VOLUME_STATUS_WORDS, status))
        _add(vol, "snapshotCount", _int(d, f"{p}.snap_count"))
        bricks = _int(d, f"{p}.brick_count")
        _add(vol, "brickCount", bricks)
        dist = _int(d, f"{p}.dist_count")
        _add(vol, "distCount", bricks // dist if dist else 0)
        for tag, key in (
            ("replicaCount", "replica_count"),
            ("arbiterCount", "arbiter_count"),
            ("disperseCount", "disperse_count"),
            ("redundancyCount", "redundancy_count"),
        ):
            _add(vol, tag, _int(d, f"{p}.{key}"))
        kind = volume_type(_int(d, f"{p}.type"), dist, bricks)
        _add(vol, "type", kind)
        _add(vol, "typeStr", _words(VOLUME_TYPE_WORDS, kind))
        _add(vol, "transport", _int(d, f"{p}.transport"))
        brick_list = _add(vol, "bricks")
        for j in range(1, bricks + 1):
            host_uuid = _get(d, f"{p}.brick{j}.uuid")
            name = _get(d, f"{p}.brick{j}")
            brick = _add(brick_list, "brick", name)  # mixed content: text, then elements
            brick.set("uuid", host_uuid)
            _add(brick, "name", name)
            _add(brick, "hostUuid", host_uuid)
            _add(brick, "isArbiter", int(f"{p}.brick{j}.isArbiter" in d))
        _add(vol, "optCount", _int(d, f"{p}.opt_count"))
        options = _add(vol, "options")
        prefix = f"{p}.option."
        for key, value in reversed(list(d.items())):  # the CLI's dict_foreach order
            if "option." not in key:
                continue
            # the CLI names the option by what is left of the key past its common part with
            # the prefix (so another volume's options would show as "1.option.x")
            name = key[len(os.path.commonprefix([prefix, key])) :]
            if name:
                option = _add(options, "option")
                _add(option, "name", name)
                _add(option, "value", value)
    return count


# ---- volume status --------------------------------------------------------------------------


def vol_status(status: Status, dicts: Iterable[Mapping[str, str]]) -> ET.Element:
    """``volume status``: ``<volStatus><volumes>`` with a ``<volume>`` per successful
    STATUS_VOLUME reply dict (one, or every started volume for ``status [all]``)."""
    root = cli_output(status)
    volumes = _add(_add(root, "volStatus"), "volumes")
    for d in dicts:
        _status_volume(volumes, d)
    return root


def _status_volume(parent: ET.Element, d: Mapping[str, str]) -> None:
    vol = _add(parent, "volume")
    _add(vol, "volName", _get(d, "volname"))
    _add(vol, "nodeCount", _int(d, "count"))
    cmd = _int(d, "cmd")
    last = _int(d, "brick-index-max") + _int(d, "other-count")
    _int(d, "type")  # read (and required) by the CLI, not shown
    for i in range(last + 1):
        if f"brick{i}.hostname" not in d:
            continue  # not a node the CLI shows
        node = _status_node(vol, d, i)
        if cmd & StatusFlag.MASK == StatusFlag.DETAIL:
            _status_detail(node, d, i)
    if cmd & StatusFlag.MASK == StatusFlag.NONE and cmd & (StatusFlag.VOL | StatusFlag.ALL):
        _status_tasks(vol, d)


def _status_node(vol: ET.Element, d: Mapping[str, str], i: int) -> ET.Element:
    p = f"brick{i}."
    node = _add(vol, "node")
    for key in ("hostname", "path", "peerid"):
        _add(node, key, _get(d, p + key))
    online = _int(d, p + "status")
    _add(node, "status", online)
    port = _int(d, p + "port")
    try:
        rdma = _int(d, p + "rdma_port")
    except RemoteProtocolError:
        rdma = 0  # optional for the CLI
    up = online == 1
    _add(node, "port", port if up and port else "N/A")
    ports = _add(node, "ports")
    _add(ports, "tcp", port if up and port else "N/A")
    _add(ports, "rdma", rdma if up and rdma else "N/A")
    _add(node, "pid", _int(d, p + "pid"))
    return node


def _status_detail(node: ET.Element, d: Mapping[str, str], i: int) -> None:
    """``status detail``: each field the reply has, in the CLI's order."""
    p = f"brick{i}."
    for tag, key, number in (
        ("sizeTotal", "total", True),
        ("sizeFree", "free", True),
        ("device", "device", False),
        ("blockSize", "block_size", True),
        ("mntOptions", "mnt_options", False),
        ("fsName", "fs_name", False),
        ("inodeSize", "inode_size", False),
        ("inodesTotal", "total_inodes", True),
        ("inodesFree", "free_inodes", True),
    ):
        if p + key not in d:
            continue
        if tag == "inodeSize":  # the CLI writes the file system's name there
            _add(node, tag, d.get(p + "fs_name", "(null)"))
        else:
            _add(node, tag, _int(d, p + key) % (1 << 64) if number else d[p + key])


def _status_tasks(vol: ET.Element, d: Mapping[str, str]) -> None:
    tasks = _add(vol, "tasks")
    for i in range(_int(d, "tasks")):
        task = _add(tasks, "task")
        _add(task, "type", _get(d, f"task{i}.type"))
        _add(task, "id", _get(d, f"task{i}.id"))
        status = _int(d, f"task{i}.status")
        _add(task, "status", status)
        _add(task, "statusStr", _words(TASK_STATUS_WORDS, status))


# ---- the text -------------------------------------------------------------------------------


def to_text(root: ET.Element) -> str:
    """``root`` as libxml2's formatted save writes it (see the module notes), ending in a
    newline. Raises RemoteProtocolError for text XML cannot carry."""
    out = [XML_DECLARATION, "\n"]
    _write(out, root, 0, formatted=True)
    out.append("\n")
    return "".join(out)


def _write(out: list[str], e: ET.Element, depth: int, *, formatted: bool) -> None:
    attrs = "".join(f' {k}="{_escape(v, attribute=True)}"' for k, v in e.attrib.items())
    if not e.text and not len(e):
        out.append(f"<{e.tag}{attrs}/>")
        return
    out.append(f"<{e.tag}{attrs}>")
    # libxml2 indents an element's children only when none of them is text
    inline = not formatted or bool(e.text) or any(c.tail for c in e)
    if e.text:
        out.append(_escape(e.text))
    for child in e:
        if not inline:
            out.append("\n" + "  " * (depth + 1))
        _write(out, child, depth + 1, formatted=not inline)
        if child.tail:
            out.append(_escape(child.tail))
    if not inline:
        out.append("\n" + "  " * depth)
    out.append(f"</{e.tag}>")


_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;"}
    | {"\t": "&#9;"}
)


def _escape(text: str, *, attribute: bool = False) -> str:
    bad = _NOT_XML.search(text)
    if bad is not None:
        raise RemoteProtocolError(
            f"the daemon's reply holds {bad.group()!r}, which XML cannot carry"
        )
    return text.translate(_ATTR_ESCAPES if attribute else _TEXT_ESCAPES)

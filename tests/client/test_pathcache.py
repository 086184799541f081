"""The path cache (client/pathcache.py): bounded, and a subtree is forgotten by its index."""

from __future__ import annotations

import posixpath
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gfrpc.client.namespace import Namespace, Node
from gfrpc.client.pathcache import PathCache


def node(kind: int = stat.S_IFREG) -> Node:
    return Node(bytes(16), kind | 0o644, 0)


def test_forget_tree_drops_the_subtree_and_nothing_else() -> None:
    """forget_tree(p) drops p and every path below it, keeps the root and the siblings whose
    names only start like p ("/a" is not below "/ab"), and leaves no index behind."""
    c = PathCache()
    c["/"] = node(stat.S_IFDIR)
    for p in ("/a", "/a/b", "/a/b/c", "/a/d", "/ab", "/ab/x", "/z"):
        c[p] = node(stat.S_IFDIR)
    c.forget_tree("/a")
    assert sorted(c) == ["/", "/ab", "/ab/x", "/z"]
    c.forget_tree("/")
    assert list(c) == ["/"]
    assert c.index_size() == 0


def test_a_subtree_below_a_dropped_path_is_still_forgotten() -> None:
    """A directory dropped alone (pop, or the bound) leaves its cached children reachable: a
    later forget_tree of an ancestor (a rename of it) still drops them, so no path under an
    old name keeps a gfid that has moved."""
    c = PathCache()
    for p in ("/a", "/a/b", "/a/b/c", "/a/b/c/f"):
        c[p] = node(stat.S_IFDIR)
    c.pop("/a/b")
    c.pop("/a")
    assert sorted(c) == ["/a/b/c", "/a/b/c/f"]
    c.forget_tree("/a")
    assert len(c) == 0 and c.index_size() == 0


def test_the_bound_holds_and_the_root_stays() -> None:
    """Past ``limit`` paths the oldest-added go first, down to three quarters of the limit;
    the root is never dropped; the newest paths are kept."""
    c = PathCache(limit=100)
    c["/"] = node(stat.S_IFDIR)
    for i in range(1000):
        c[f"/d{i % 7}/f{i}"] = node()
        assert len(c) <= 100
    assert "/" in c and "/d5/f999" in c and "/d0/f0" not in c
    c.forget_tree("/")
    assert list(c) == ["/"] and c.index_size() == 0


def test_links_are_counted_through_replacements() -> None:
    """has_links follows symbolic links added, replaced by other nodes, popped and forgotten."""
    c = PathCache()
    c["/l"] = node(stat.S_IFLNK)
    assert c.has_links()
    c["/l"] = node()
    assert not c.has_links()
    c["/d/l"] = node(stat.S_IFLNK)
    c.forget_tree("/d")
    assert not c.has_links()


def test_a_bad_limit_is_refused() -> None:
    """A cache that could hold nothing is a configuration error, not a silent no-op."""
    with pytest.raises(ValueError):
        PathCache(limit=0)


def test_namespace_forget_uses_the_index() -> None:
    """Namespace._forget drops a file's path among 50,000 cached ones by the index: the
    others stay, and so does the root."""
    ns = Namespace([], None, "single")
    ns._cache["/"] = node(stat.S_IFDIR)
    for i in range(50000):
        ns._cache[f"/d{i % 100}/f{i}"] = node()
    ns._forget("/d7/f7")
    assert "/d7/f7" not in ns._cache and "/d7/f107" in ns._cache
    assert len(ns._cache) == 50000  # the root and 49,999 files
    ns._forget("/d7")
    assert len(ns._cache) == 50000 - 499 and "/" in ns._cache  # /d7 held 499 more


NAMES = st.sampled_from(["a", "b", "ab", "c"])
PATHS = st.lists(NAMES, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
OPS = st.lists(
    st.tuples(st.sampled_from(["set", "pop", "forget", "get"]), PATHS), min_size=1, max_size=60
)


@settings(max_examples=300, deadline=None)
@given(OPS, st.integers(min_value=1, max_value=12))
def test_against_a_plain_dict(ops: list[tuple[str, str]], limit: int) -> None:
    """Whatever the order of additions, pops and subtree forgets, the cache holds a subset of
    what a plain dict with a prefix scan holds (the bound may have dropped the oldest), never
    more than ``limit`` paths, nothing below a forgotten path, and its index empties with it."""
    c = PathCache(limit=limit)
    model: dict[str, Node] = {}
    for op, path in ops:
        if op == "set":
            model[path] = c_node = node(stat.S_IFDIR)
            c[path] = c_node
        elif op == "get":
            assert c.get(path) in (None, model.get(path))
        elif op == "pop":
            model.pop(path, None)
            c.pop(path)
        else:
            for p in [p for p in model if p == path or p.startswith(path + "/")]:
                del model[p]
            c.forget_tree(path)
            assert not any(p == path or p.startswith(path + "/") for p in c)
        assert len(c) <= limit
        assert all(model.get(p) is c._nodes[p] for p in c)
        assert c._used <= set(c)  # no mark outlives its path
        for p in c:  # every cached path is reachable from the root in the index
            while p != "/":
                parent = posixpath.dirname(p)
                assert p in c._kids[parent]
                p = parent
    c.forget_tree("/")
    assert len(c) == 0 and c.index_size() == 0


def test_a_path_read_since_the_last_eviction_gets_a_second_chance() -> None:
    """A path the client keeps reading (``get``) outlives evictions that drop paths added
    after it but never read; a path read once and then left alone goes in a later batch."""
    c = PathCache(limit=100)
    c["/"] = node(stat.S_IFDIR)
    c["/hot"] = node()
    c["/once"] = node()
    assert c.get("/once") is not None  # read before the first batch, never again
    for i in range(1000):
        c[f"/stream/f{i}"] = node()
        if i % 10 == 0:
            assert c.get("/hot") is not None, i
        assert len(c) <= 100
    assert "/hot" in c and "/once" not in c and "/stream/f0" not in c and "/stream/f999" in c


def test_the_bound_holds_when_every_path_was_read() -> None:
    """With every cached path read since the last batch, eviction still brings the cache down
    to three quarters of its limit (the oldest go), keeps the root, and its index stays whole."""
    c = PathCache(limit=40)
    c["/"] = node(stat.S_IFDIR)
    for i in range(500):
        c[f"/d{i % 3}/f{i}"] = node()
        for p in list(c):
            c.get(p)
        assert len(c) <= 40
    assert "/" in c and "/d1/f499" in c and "/d0/f0" not in c
    for p in c:
        while p != "/":
            assert p in c._kids[posixpath.dirname(p)]
            p = posixpath.dirname(p)
    c.forget_tree("/")
    assert list(c) == ["/"] and c.index_size() == 0 and c._used <= {"/"}

"""A ``Volume``'s path cache: resolved path -> what it resolved to, bounded, with an index of
what is cached below each path.

Theory of operation. ``Namespace`` resolves a path one component at a time and remembers each
resolved path's node (gfid, type, brick), so the next call on the same path or a path below it
costs no LOOKUP. Two things must stay cheap however many paths a long-lived client has seen:

* **Forgetting a subtree.** A rename, an unlink or an rmdir must drop the path and everything
  cached below it (a renamed directory's children are cached under the old name). A scan of
  every cached path for the prefix cost 4.4 ms per unlink at 50,000 cached paths, ten times the
  UNLINK itself, and made removing a big tree quadratic. So the cache keeps a trie of its
  paths: ``_kids[p]`` is the set of cached paths (or paths with cached paths below them) whose
  parent is ``p``. :meth:`forget_tree` walks only the subtree; adding a path links it to its
  parent in O(1) when the parent is there (it almost always is: a walk caches each component
  in turn); removing one prunes the trie nodes it leaves empty.
* **Memory.** The cache holds at most ``limit`` paths. Past it paths are dropped, down to
  three quarters of the limit, in one batch (amortised O(1) per insertion): the oldest-added
  first, except that a path read (:meth:`get`) since the last batch is given a second chance
  (moved to the back of the line, its mark cleared) instead of being dropped, so the paths a
  client keeps using (a hot directory, a file it rereads) outlive a stream of names used once.
  If every path had been read, a second pass drops the oldest anyway: the bound always holds.
  The root is never dropped. A path may be dropped while paths below it stay: the trie keeps
  them reachable from their ancestors' names, so a later :meth:`forget_tree` of an ancestor
  still finds them. A dropped path only costs a LOOKUP the next time it is used.

Not thread-safe on its own: ``Namespace`` calls it under its lock.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gfrpc.client.namespace import Node

__all__ = ["CACHE_MAX", "PathCache"]

#: paths a ``Volume`` keeps resolved: about 380 bytes each with the index, so 25 MB at most
CACHE_MAX = 65536


class PathCache:
    """Resolved path -> ``Node``; the mapping calls ``Namespace`` needs (module notes)."""

    def __init__(self, limit: int = CACHE_MAX) -> None:
        if limit < 1:
            raise ValueError("a path cache holds at least one path")
        self.limit = limit
        self._nodes: dict[str, Node] = {}
        #: the trie: a path -> the cached paths (or ancestors of cached paths) directly below it
        self._kids: dict[str, set[str]] = {}
        self._links = 0  # cached symbolic links (``has_links``)
        #: cached paths read since the last eviction (their second chance; module notes)
        self._used: set[str] = set()

    # -- reading ----------------------------------------------------------------------------

    def get(self, path: str) -> Node | None:
        node = self._nodes.get(path)
        if node is not None:
            self._used.add(path)
        return node

    def __contains__(self, path: object) -> bool:
        return path in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def has_links(self) -> bool:
        """Whether a symbolic link is cached."""
        return self._links > 0

    def index_size(self) -> int:
        """Trie entries held (for tests: an empty cache holds none)."""
        return len(self._kids)

    # -- changing ---------------------------------------------------------------------------

    def __setitem__(self, path: str, node: Node) -> None:
        old = self._nodes.get(path)
        self._nodes[path] = node
        self._links += node.is_symlink - (old is not None and old.is_symlink)
        if old is None:
            self._link(path)
            if len(self._nodes) > self.limit:
                self._evict()

    def pop(self, path: str) -> Node | None:
        """Drop ``path`` alone (what is cached below it stays); its node, or None."""
        node = self._nodes.pop(path, None)
        if node is not None:
            self._links -= node.is_symlink
            self._used.discard(path)
            self._prune(path)
        return node

    def forget_tree(self, path: str) -> None:
        """Drop ``path`` and every path cached below it; the root stays (its gfid is fixed)."""
        stack = [path]
        while stack:
            p = stack.pop()
            if p != "/":
                node = self._nodes.pop(p, None)
                if node is not None:
                    self._links -= node.is_symlink
                    self._used.discard(p)
            stack.extend(self._kids.pop(p, ()))
        self._prune(path)

    # -- the trie ---------------------------------------------------------------------------

    def _link(self, path: str) -> None:
        """Put ``path`` in the trie, with the ancestors it lacks."""
        while path != "/":
            parent = posixpath.dirname(path)
            kids = self._kids.get(parent)
            if kids is not None:  # the parent is in the trie already, so are its ancestors
                kids.add(path)
                return
            self._kids[parent] = {path}
            path = parent

    def _prune(self, path: str) -> None:
        """Take ``path`` and the ancestors it leaves empty out of the trie, unless cached."""
        while not self._kids.get(path):
            self._kids.pop(path, None)  # an empty set, if any
            if path == "/" or path in self._nodes:
                return
            parent = posixpath.dirname(path)
            kids = self._kids.get(parent)
            if kids is None:
                return
            kids.discard(path)
            path = parent

    def _evict(self) -> None:
        """Drop paths down to three quarters of the limit: the oldest-added first, a path read
        since the last eviction moved to the back once instead (module notes); never the root."""
        nodes, used = self._nodes, self._used
        excess = len(nodes) - self.limit * 3 // 4
        moved: list[str] = []
        for path in list(nodes):  # a snapshot: the loop moves and drops entries
            if excess <= 0:
                break
            if path == "/":
                continue
            if path in used:
                nodes[path] = nodes.pop(path)  # to the back of the (insertion-ordered) line
                moved.append(path)
            else:
                self.pop(path)
                excess -= 1
        for path in moved[: max(excess, 0)]:  # every path had been read: the oldest go anyway
            self.pop(path)
        used.clear()  # a second chance is earned again by a read after this batch

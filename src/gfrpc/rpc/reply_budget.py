"""The reply bytes a server may have in the making or unsent: per connection and in all.

Theory of operation
-------------------
A reply that cannot be sent pins memory. A procedure that declares a ``reply_size`` (the
brick's READ, READDIR(P), (F)GETXATTR, LOOKUP and (F)XATTROP) *reserves* its predicted reply
before it starts (unless the prediction is 0: a small reply, such as a LOOKUP's without
xdata), and gives
the reservation back once the reply has left for the kernel, or will never be sent
(``Request._finished``). One :class:`ReplyBudget` per server keeps two limits on what is
reserved:

* ``per_connection`` (``max_unsent_bytes``, 16 MiB): a client that pipelines READs and never
  reads the replies makes the server build at most that much for it;
* ``total`` (``max_reply_bytes``, 256 MiB), across all connections: without it 4,096
  connections that never read could pin 4,096 × 16 MiB = 64 GiB, each for the send timeout.

A reservation that would cross either limit waits, with every later one of its connection (a
connection's requests start in the order they came), in that connection's ``held`` queue. A
reservation alone always fits (one reply bigger than a limit goes when nothing else is
reserved), so everyone progresses.

*Shares.* Each peer machine (``Endpoint.peer_host``: an IPv4 address, an IPv6 /64) with a
connection open may reserve at most its share of the total: the total divided by the number
of such machines (one that holds nothing may start one whatever its share). So peers on one
machine that stop reading cannot take the room that another machine's next READ needs.

*Room kept for peers that read.* A connection whose peer has not yet had ``ANSWERED_ENOUGH``
(8) replies leave may take its machine only to three quarters of its share; the last quarter
is for connections whose peers read. One machine's share cannot keep peers that stop reading
apart from honest clients on the same machine; this does: they never fill the room an honest
client's next READ needs, and it goes while they wait. (Kept of the total instead, that
quarter kept a fresh connection of another machine waiting too, though its machine held
nothing.)

*Turns.* A connection whose first waiting request fits its own limit, but not what its
machine may hold or the total, waits for the server. When room comes free, the one whose
machine holds least goes first, then, within a machine, the connection that holds least, then
one whose peer reads (ties in the order they came; a connection goes to the back after each
request it starts). So an honest client, which holds nothing while it waits for its next
reply, goes ahead of connections that hold replies their peers do not read. When the one whose
turn it is does not fit the total, nobody goes ahead of it, so small READs cannot starve a big
one. Connections that would take their machines over what they may hold are *parked* out of
the turns, until their machine gives something back (or the shares grow), so they cost the
others' requests no look. Choosing scans the waiting connections that are not parked, and
only while some wait.

Without shares, 64 connections that never read, beside four honest clients whose
reservations came free between their calls, took every byte freed; without the room kept
and the order by reading, the same peers on the honest clients' own address cut their rate to
a fifth (docs/ARCHITECTURE.md, Performance notes 78).

*Peers that stopped reading.* A reservation of a reply that sits unsent is given back only when
the peer reads it, or the send timeout (60 s) closes the connection. So while requests wait,
the watchdog (once a second, :meth:`review`) closes connections whose replies the kernel has
taken none of for ``stall_timeout`` seconds (the server's ``finish_timeout``, 5 s): first
those of the machine whose turn it is, if it is over its share, then any, those that reserved
most first, as few as make room for the one whose turn it is (or, when every waiting one is
parked, the first of the machine holding least) (``close_for_memory``, logged).
Their reservations come back as their queued replies are dropped. A slow reader that reads at
all keeps its connection.

So the replies a server has in the making or unsent stay within ``total`` (one reply bigger
than that goes alone), but for about one LOOKUP reply per connection: a LOOKUP run inline
reserves only while replies of its connection are queued (``Procedure.reserves_when_behind``).
Requests that do not reserve (STAT, CREATE, ...) are bounded per
connection by outstanding-rpc-limit. With nobody waiting, a reserve and a release are one lock
and a few integer updates each, so a READ pays next to nothing for this.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gfrpc.rpc.request import Request
    from gfrpc.transport import Endpoint

#: replies a connection must have had leave before its peer counts as one that reads
ANSWERED_ENOUGH = 8
#: ``ReplyAccount.where`` of a connection that waits for its turn (not parked)
IN_TURNS: tuple[str, bool] = ("", True)


class ReplyAccount:
    """One connection's reservations (kept on the connection, guarded by the budget's lock)."""

    __slots__ = ("reserved", "held", "host", "endpoint", "where", "evicted", "answered")

    def __init__(self) -> None:
        #: reply bytes reserved by running or unsent requests of this connection
        self.reserved = 0
        #: (request, predicted size) waiting to start, in the order they came
        self.held: deque[tuple[Request, int]] = deque()
        #: the peer's machine (``Endpoint.peer_host``), given by ``ReplyBudget.connected``
        self.host = ""
        self.endpoint: Endpoint | None = None
        #: where it waits for the server: None (it does not), IN_TURNS, or the key it is
        #: parked under, (its machine, whether its peer reads), while it would take its
        #: machine over what it may hold
        self.where: tuple[str, bool] | None = None
        #: closed by ``review`` to give its reservations back
        self.evicted = False
        #: replies it reserved for that have left (up to ANSWERED_ENOUGH): a peer that reads
        self.answered = 0


class ReplyBudget:
    """Reply reservations of one server (see the module docstring); 0 turns a limit off."""

    def __init__(self, per_connection: int, total: int, stall_timeout: float = 0.0) -> None:
        self.per_connection = per_connection
        self.total = total
        self.stall_timeout = stall_timeout
        self._lock = threading.Lock()
        #: bytes reserved by all connections
        self.reserved = 0
        #: peer machine -> bytes its connections reserved (machines with none are absent)
        self._by_host: dict[str, int] = {}
        #: peer machine -> its open connections; each machine's share is the total / len
        self._hosts: dict[str, int] = {}
        self._share = total
        #: connections waiting for the server's turn, in the order they came (a dict: ordered,
        #: and a closed one leaves it at once)
        self._waiting: dict[ReplyAccount, None] = {}
        #: (peer machine, whether their peers read) -> waiting connections that would take
        #: their machine over what they may hold: out of the turns until it holds less than
        #: that or the shares grow, so peers that read nothing cost the others' requests no
        #: look at their connections
        self._parked: dict[tuple[str, bool], dict[ReplyAccount, None]] = {}
        #: the accounts that have something reserved (for ``review``)
        self._holders: dict[ReplyAccount, None] = {}

    # -- connections ------------------------------------------------------------------------
    def connected(self, account: ReplyAccount, host: str) -> None:
        """A connection from peer machine ``host`` is made: a new machine shrinks the shares."""
        with self._lock:
            account.host = host
            self._hosts[host] = self._hosts.get(host, 0) + 1
            self._share = self.total // len(self._hosts)

    def forget(self, account: ReplyAccount) -> list[Request]:
        """The connection is gone: its waiting requests never start (what it has reserved is
        given back as its running and unsent replies finish). The requests of others that
        may start now."""
        ready: list[Request] = []
        with self._lock:
            account.held.clear()
            self._unqueue(account)
            count = self._hosts.get(account.host, 0) - 1
            if count > 0:
                self._hosts[account.host] = count
            elif count == 0:
                del self._hosts[account.host]
                self._share = self.total // max(1, len(self._hosts))
                for key in list(self._parked):  # every share grew
                    self._unpark(key)
            if self._waiting:
                self._admit_locked(ready)
        return ready

    # -- the request path -------------------------------------------------------------------
    def reserve(self, account: ReplyAccount, request: Request, size: int) -> bool:
        """Reserve ``size`` bytes for ``request``'s reply; False: it waits in ``account.held``
        and is handed back by a later ``release`` or ``forget`` when it may start."""
        with self._lock:
            held = account.held
            if held or not self._own_fits(account, size):
                held.append((request, size))  # waits behind its own
                return False
            if not self._waiting and self._fits(account, size):
                self._take(account, request, size)
                return True
            held.append((request, size))
            self._enqueue(account)
            if not self._waiting:
                return False  # parked
            ready: list[Request] = []
            self._admit_locked(ready)  # it may go ahead of the others: whose turn is it?
            return bool(ready)  # nothing came free, so nothing but this one can start

    def release(self, request: Request, account: ReplyAccount) -> list[Request]:
        """``request``'s reply has left (or never will): give its bytes back; the requests
        that may start now, each with its reservation made."""
        size, request._reserved = request._reserved, 0
        ready: list[Request] = []
        with self._lock:
            account.reserved -= size
            self.reserved -= size
            left = self._by_host[account.host] - size
            if left:
                self._by_host[account.host] = left
            else:
                del self._by_host[account.host]
            if not account.reserved:
                del self._holders[account]
            if account.answered < ANSWERED_ENOUGH:
                account.answered += 1
                where = account.where
                if account.answered == ANSWERED_ENOUGH and where and where is not IN_TURNS:
                    self._unqueue(account)  # parked, and its peer reads: it may hold more
                    self._enqueue(account)
            if self._parked:
                self._unpark_room(account.host)
            held = account.held
            if held and account.where is None and self._own_fits(account, held[0][1]):
                self._enqueue(account)
            if self._waiting:
                self._admit_locked(ready)
        return ready

    # -- the watchdog -----------------------------------------------------------------------
    def review(self) -> None:
        """While requests wait, close the connections whose unsent replies made no progress
        for ``stall_timeout``: of the machine whose turn it is first, if it is over its share,
        then any; largest reservation first, as few as make room for the one whose turn it is
        (watchdog thread, once a second)."""
        if not (self._waiting or self._parked) or self.stall_timeout <= 0 or self.total <= 0:
            return
        now = time.monotonic()
        chosen: list[tuple[ReplyAccount, Endpoint]] = []
        with self._lock:
            head = self._head()
            if head is None:
                return
            size = head.held[0][1]
            over_total = self.reserved + size - self.total
            over_share = self._by_host.get(head.host, 0) + size - self._host_limit(head)
            stalled: list[tuple[int, ReplyAccount, Endpoint]] = []
            for a in self._holders:
                if a.evicted:  # closed by an earlier round: its bytes are on their way back
                    over_total -= a.reserved
                    if a.host == head.host:
                        over_share -= a.reserved
                elif (ep := a.endpoint) is not None and ep.unsent_for(now) >= self.stall_timeout:
                    stalled.append((a.reserved, a, ep))
            stalled.sort(key=lambda item: item[0], reverse=True)
            for reserved, account, ep in stalled:  # the share first: the machine's own
                if over_share <= 0:
                    break
                if account.host == head.host:
                    account.evicted = True
                    over_share -= reserved
                    over_total -= reserved
                    chosen.append((account, ep))
            for reserved, account, ep in stalled:
                if over_total <= 0:
                    break
                if not account.evicted:
                    account.evicted = True
                    over_total -= reserved
                    chosen.append((account, ep))
        for account, ep in chosen:
            ep.close_for_memory(
                f"its peer read none of its replies for {self.stall_timeout:g} s while "
                f"others waited for reply memory ({account.reserved} bytes reserved)"
            )

    @property
    def waiting(self) -> int:
        """Connections waiting for the server."""
        with self._lock:
            return len(self._waiting) + sum(len(p) for p in self._parked.values())

    # -- inside the lock --------------------------------------------------------------------
    def _own_fits(self, account: ReplyAccount, size: int) -> bool:
        limit = self.per_connection
        return limit <= 0 or not account.reserved or account.reserved + size <= limit

    def _total_fits(self, size: int) -> bool:
        limit = self.total
        return limit <= 0 or not self.reserved or self.reserved + size <= limit

    def _host_limit(self, account: ReplyAccount) -> int:
        """What ``account`` may take its machine up to: the machine's share once its peer has
        read replies, three quarters of it before."""
        share = self._share
        return share if account.answered >= ANSWERED_ENOUGH else share - share // 4

    def _share_fits(self, account: ReplyAccount, size: int) -> bool:
        held = self._by_host.get(account.host, 0)
        return self.total <= 0 or not held or held + size <= self._host_limit(account)

    def _fits(self, account: ReplyAccount, size: int) -> bool:
        return self._share_fits(account, size) and self._total_fits(size)

    def _take(self, account: ReplyAccount, request: Request, size: int) -> None:
        if not account.reserved:
            self._holders[account] = None
        account.reserved += size
        self.reserved += size
        self._by_host[account.host] = self._by_host.get(account.host, 0) + size
        request._reserved = size

    def _enqueue(self, account: ReplyAccount) -> None:
        """``account``'s first waiting request fits its own limit: it waits for the server's
        turn (``_next`` parks it if its machine is over its share)."""
        account.where = IN_TURNS
        self._waiting[account] = None

    def _park(self, account: ReplyAccount) -> None:
        del self._waiting[account]
        key = account.where = (account.host, account.answered >= ANSWERED_ENOUGH)
        self._parked.setdefault(key, {})[account] = None

    def _unpark(self, key: tuple[str, bool]) -> None:
        """The connections parked under ``key`` wait for their turns again."""
        for account in self._parked.pop(key):
            account.where = IN_TURNS
            self._waiting[account] = None

    def _unpark_room(self, host: str) -> None:
        """``host`` gave something back: those parked that it now has room for wait for their
        turns again (not at each release of a machine whose readers' replies keep leaving
        while its other peers read nothing)."""
        held, share = self._by_host.get(host, 0), self._share
        if (host, False) in self._parked and held < share - share // 4:
            self._unpark((host, False))
        if (host, True) in self._parked and held < share:
            self._unpark((host, True))

    def _unqueue(self, account: ReplyAccount) -> None:
        where, account.where = account.where, None
        if where is IN_TURNS:
            del self._waiting[account]
        elif where is not None:
            parked = self._parked[where]
            del parked[account]
            if not parked:
                del self._parked[where]

    def _next(self) -> ReplyAccount | None:
        """The waiting connection whose turn it is: the one whose machine holds least, then
        the one that holds least, then one whose peer has read replies, then the first come.
        Those that would take their machines over what they may hold are parked on the way."""
        by_host = self._by_host
        best: ReplyAccount | None = None
        best_key = (0, 0, 0)
        parking: list[ReplyAccount] = []
        for account in self._waiting:
            if not self._share_fits(account, account.held[0][1]):
                parking.append(account)
                continue
            key = (by_host.get(account.host, 0), account.reserved, -account.answered)
            if best is None or key < best_key:
                best, best_key = account, key
        for account in parking:
            self._park(account)
        return best

    def _head(self) -> ReplyAccount | None:
        """Who ``review`` makes room for: the one whose turn it is, or, when all wait parked,
        the first of the machine that holds least."""
        head = self._next()
        if head is not None or not self._parked:
            return head
        parked = self._parked
        return next(iter(parked[min(parked, key=lambda k: self._by_host.get(k[0], 0))]))

    def _admit_locked(self, ready: list[Request]) -> None:
        """Start waiting requests while the one whose turn it is fits."""
        waiting = self._waiting
        while waiting:
            account = self._next()
            if account is None:
                return
            request, size = account.held[0]
            if not self._total_fits(size):
                return
            account.held.popleft()
            self._take(account, request, size)
            ready.append(request)
            del waiting[account]
            account.where = None
            if account.held and self._own_fits(account, account.held[0][1]):
                self._enqueue(account)  # to the back: one request a turn

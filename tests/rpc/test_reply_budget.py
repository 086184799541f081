"""The RPC server's reply budget (``gfrpc.rpc.reply_budget``): what unread replies may pin,
per connection and in all, who goes first when room comes free, and which connections are
closed when their peers stopped reading while others wait.

These drive the budget directly, with stand-ins for requests and endpoints; the end-to-end
tests over real sockets are in ``test_server_limits.py``.
"""

from __future__ import annotations

import time

import pytest

from gfrpc.rpc.reply_budget import ANSWERED_ENOUGH, ReplyAccount, ReplyBudget

MiB = 1 << 20


class FakeRequest:
    """What the budget uses of a request: the reservation it carries."""

    _reserved = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class FakeEndpoint:
    """What ``review`` uses of an endpoint: how long its replies made no progress."""

    def __init__(self, stalled_since: float | None = None) -> None:
        self.stalled_since = stalled_since
        self.closed_for: str | None = None

    def unsent_for(self, now: float) -> float:
        return 0.0 if self.stalled_since is None else now - self.stalled_since

    def close_for_memory(self, reason: str) -> None:
        self.closed_for = reason


def account(host: str, ep: FakeEndpoint | None = None, *, reads: bool = True) -> ReplyAccount:
    """A connection's account; ``reads``: its peer has read enough replies to count as one
    that reads (the rules other than the room kept for such peers are about those)."""
    a = ReplyAccount()
    a.host = host
    a.endpoint = ep or FakeEndpoint()  # type: ignore[assignment]
    if reads:
        a.answered = ANSWERED_ENOUGH
    return a


def reserve(budget: ReplyBudget, a: ReplyAccount, name: str, size: int) -> FakeRequest:
    request = FakeRequest(name)
    request.started = budget.reserve(a, request, size)  # type: ignore[arg-type,attr-defined]
    return request


def names(ready: list) -> list[str]:
    return [r.name for r in ready]


def test_the_total_bounds_every_connection_together() -> None:
    """Rule: what all connections reserve stays within the total; what would cross it waits,
    and starts when a reply leaves."""
    budget = ReplyBudget(per_connection=4 * MiB, total=6 * MiB)
    conns = [account(f"10.0.0.{i}") for i in range(4)]
    started = [reserve(budget, a, f"r{i}", 2 * MiB) for i, a in enumerate(conns)]
    assert [r.started for r in started] == [True, True, True, False]  # type: ignore[attr-defined]
    assert budget.reserved == 6 * MiB and budget.waiting == 1
    ready = budget.release(started[0], conns[0])  # type: ignore[arg-type]
    assert names(ready) == ["r3"] and budget.reserved == 6 * MiB and budget.waiting == 0


def test_one_reply_alone_always_fits() -> None:
    """Rule: a reply bigger than both limits starts when nothing else is reserved (so every
    request progresses), and nothing starts beside it."""
    budget = ReplyBudget(per_connection=MiB, total=2 * MiB)
    a, b = account("10.0.0.1"), account("10.0.0.2")
    big = reserve(budget, a, "big", 8 * MiB)
    small = reserve(budget, b, "small", 1024)
    assert big.started and not small.started  # type: ignore[attr-defined]
    assert names(budget.release(big, a)) == ["small"]  # type: ignore[arg-type]


def test_a_connection_keeps_its_limit_and_its_order() -> None:
    """Rule: one connection reserves at most its own limit; its later requests wait behind
    its first waiting one, even a small one that would fit, and start in the order they came."""
    budget = ReplyBudget(per_connection=4 * MiB, total=64 * MiB)
    a = account("10.0.0.1")
    first = [reserve(budget, a, f"r{i}", 2 * MiB) for i in range(3)]
    tiny = reserve(budget, a, "tiny", 1)
    assert [r.started for r in [*first, tiny]] == [True, True, False, False]  # type: ignore[attr-defined]
    assert names(budget.release(first[0], a)) == ["r2"]  # type: ignore[arg-type]
    assert names(budget.release(first[1], a)) == ["tiny"]  # type: ignore[arg-type]


def test_the_machine_that_holds_least_goes_first() -> None:
    """Rule: when room comes free, a waiting connection of the peer machine with least
    reserved starts before one of a machine that holds more, though that one waited first."""
    budget = ReplyBudget(per_connection=8 * MiB, total=8 * MiB)
    greedy = [account("10.0.0.66") for _ in range(3)]
    held = [reserve(budget, a, f"g{i}", 3 * MiB) for i, a in enumerate(greedy)]
    assert [r.started for r in held] == [True, True, False]  # type: ignore[attr-defined]
    honest = account("10.0.0.1")
    mine = reserve(budget, honest, "honest", 3 * MiB)
    assert not mine.started  # type: ignore[attr-defined]
    assert names(budget.release(held[0], greedy[0])) == ["honest"]  # type: ignore[arg-type]


def test_nobody_passes_the_one_whose_turn_it_is() -> None:
    """Rule: while the one whose turn it is does not fit, a smaller request, of another
    connection or machine, does not start ahead of it (small READs cannot starve a big one)."""
    budget = ReplyBudget(per_connection=16 * MiB, total=8 * MiB)
    a, b, c = account("10.0.0.1"), account("10.0.0.2"), account("10.0.0.3")
    first = reserve(budget, a, "a", 6 * MiB)
    big = reserve(budget, b, "big", 6 * MiB)
    assert first.started and not big.started  # type: ignore[attr-defined]
    small = reserve(budget, c, "small", 1 * MiB)  # it would fit: it waits its turn
    assert not small.started  # type: ignore[attr-defined]
    assert names(budget.release(first, a)) == ["big", "small"]  # type: ignore[arg-type]


def test_connections_of_one_machine_take_turns() -> None:
    """Rule: within one machine, waiting connections start one request each in turn, not
    one connection's whole queue first."""
    budget = ReplyBudget(per_connection=64 * MiB, total=4 * MiB)
    blocker = account("10.0.0.9")
    hold = reserve(budget, blocker, "hold", 4 * MiB)
    x, y = account("10.0.0.1"), account("10.0.0.1")
    for i in range(3):
        reserve(budget, x, f"x{i}", MiB)
    for i in range(3):
        reserve(budget, y, f"y{i}", MiB)
    assert names(budget.release(hold, blocker)) == ["x0", "y0", "x1", "y1"]  # type: ignore[arg-type]


def test_a_closed_connection_leaves_the_queue() -> None:
    """Rule: a connection that goes loses its waiting requests, and the next in line may
    start in its place."""
    budget = ReplyBudget(per_connection=16 * MiB, total=8 * MiB)
    a, gone, c = account("10.0.0.1"), account("10.0.0.2"), account("10.0.0.3")
    reserve(budget, a, "a", 4 * MiB)
    reserve(budget, gone, "huge", 6 * MiB)
    reserve(budget, c, "fits", 4 * MiB)
    assert budget.waiting == 2
    assert names(budget.forget(gone)) == ["fits"]
    assert budget.waiting == 0 and not gone.held and gone.where is None


def test_review_closes_stalled_readers_largest_first_and_no_more() -> None:
    """Rule: while requests wait, connections whose replies made no progress for the stall
    timeout are closed, largest reservation first, as few as make room for the one whose
    turn it is; a reader that progresses, and anyone when nobody waits, are left alone."""
    now = time.monotonic()
    budget = ReplyBudget(per_connection=16 * MiB, total=10 * MiB, stall_timeout=5.0)
    reading = FakeEndpoint()  # its replies progress
    small_stall, big_stall, other_stall = (FakeEndpoint(now - 6.0) for _ in range(3))
    holders = [
        (account("10.0.0.1", reading), 4 * MiB),
        (account("10.0.0.2", small_stall), 1 * MiB),
        (account("10.0.0.3", big_stall), 3 * MiB),
        (account("10.0.0.4", other_stall), 2 * MiB),
    ]
    for i, (a, size) in enumerate(holders):
        assert reserve(budget, a, f"h{i}", size).started  # type: ignore[attr-defined]
    budget.review()  # nobody waits: nothing closed
    assert all(ep.closed_for is None for ep in (small_stall, big_stall, other_stall))
    reserve(budget, account("10.0.0.5"), "waits", 4 * MiB)  # needs 4 MiB more room
    budget.review()
    assert big_stall.closed_for and "read none of its replies" in big_stall.closed_for
    assert other_stall.closed_for  # 3 + 2 MiB: room for 4
    assert small_stall.closed_for is None and reading.closed_for is None
    other_stall.closed_for = big_stall.closed_for = None
    budget.review()  # the two closing are not counted twice, nor chosen again
    assert (big_stall.closed_for, other_stall.closed_for, small_stall.closed_for) == (None,) * 3


@pytest.mark.parametrize("timeout", [0.0, 10.0])
def test_review_leaves_peers_alone_before_the_stall_timeout(timeout: float) -> None:
    """Rule: with the stall timeout off, or not yet reached, review closes nobody."""
    now = time.monotonic()
    budget = ReplyBudget(per_connection=16 * MiB, total=4 * MiB, stall_timeout=timeout)
    stalled = FakeEndpoint(now - 6.0)
    reserve(budget, account("10.0.0.1", stalled), "held", 4 * MiB)
    reserve(budget, account("10.0.0.2"), "waits", 4 * MiB)
    budget.review()
    assert stalled.closed_for is None


def connected(
    budget: ReplyBudget, host: str, ep: FakeEndpoint | None = None, *, reads: bool = True
) -> ReplyAccount:
    a = account(host, ep, reads=reads)
    budget.connected(a, host)
    return a


def test_a_machine_reserves_at_most_its_share() -> None:
    """Rule: each peer machine with a connection open may reserve at most the total divided
    by the number of such machines, so one machine's unread replies leave room for another's
    next READ; when a machine's last connection goes, the others' shares grow."""
    budget = ReplyBudget(per_connection=16 * MiB, total=8 * MiB)
    deaf = [connected(budget, "10.0.0.66") for _ in range(3)]
    honest = connected(budget, "10.0.0.1")
    started = [reserve(budget, a, f"d{i}", 2 * MiB) for i, a in enumerate(deaf)]
    assert [r.started for r in started] == [True, True, False]  # type: ignore[attr-defined]
    # the honest machine's replies start at once, one after another, though others wait
    for i in range(4):
        mine = reserve(budget, honest, f"h{i}", MiB)
        assert mine.started  # type: ignore[attr-defined]
        assert budget.release(mine, honest) == []  # type: ignore[arg-type]
    # the honest machine goes: its share is the deaf machine's again
    assert names(budget.forget(honest)) == ["d2"]


def test_one_over_its_share_does_not_block_the_others() -> None:
    """Rule: a machine over its share waits without holding up the turn of a machine within
    its own (the strict order is only for the total)."""
    budget = ReplyBudget(per_connection=16 * MiB, total=8 * MiB)
    greedy, other = connected(budget, "10.0.0.66"), connected(budget, "10.0.0.1")
    first = reserve(budget, greedy, "g0", 4 * MiB)
    over = reserve(budget, greedy, "g1", 1 * MiB)  # 5 MiB > its 4 MiB share
    assert first.started and not over.started  # type: ignore[attr-defined]
    assert reserve(budget, other, "o0", 3 * MiB).started  # type: ignore[attr-defined]
    assert names(budget.release(first, greedy)) == ["g1"]  # type: ignore[arg-type]


def test_within_a_machine_a_peer_that_reads_goes_first() -> None:
    """Rule: within one machine, of connections that hold equally little, one whose peer has
    read ANSWERED_ENOUGH replies goes before one whose peer has not, though that one waited
    first (a reader on the same address as peers that stopped reading)."""
    budget = ReplyBudget(per_connection=16 * MiB, total=8 * MiB)
    blockers = [connected(budget, "10.0.0.1") for _ in range(2)]
    held = [reserve(budget, a, f"b{i}", 4 * MiB) for i, a in enumerate(blockers)]
    unread = reserve(budget, connected(budget, "10.0.0.1", reads=False), "unread", MiB)
    mine = reserve(budget, connected(budget, "10.0.0.1"), "reader", MiB)
    assert not unread.started and not mine.started  # type: ignore[attr-defined]
    assert names(budget.release(held[0], blockers[0])) == ["reader", "unread"]  # type: ignore[arg-type]


def test_the_last_quarter_is_kept_for_peers_that_read() -> None:
    """Rule: connections whose peers have not yet read ANSWERED_ENOUGH replies take their
    machine to at most three quarters of its share; the rest stays for peers that read, which
    start at once while those wait, and a fresh connection of another machine, within its own
    share, starts too (a peer counts as one that reads once that many replies have left)."""
    budget = ReplyBudget(per_connection=16 * MiB, total=8 * MiB)
    new = [connected(budget, "10.0.0.66", reads=False) for _ in range(8)]
    started = [reserve(budget, a, f"n{i}", MiB) for i, a in enumerate(new)]
    assert [r.started for r in started] == [True] * 6 + [False] * 2  # type: ignore[attr-defined]
    reader = connected(budget, "10.0.0.66")
    for i in range(3):
        mine = reserve(budget, reader, f"r{i}", MiB)
        assert mine.started  # type: ignore[attr-defined]
        assert budget.release(mine, reader) == []  # type: ignore[arg-type]
    # below the line again, those waiting for it start
    assert names(budget.release(started[0], new[0])) == ["n6"]  # type: ignore[arg-type]
    assert reserve(budget, connected(budget, "10.0.0.1", reads=False), "f", MiB).started  # type: ignore[attr-defined]
    # a peer whose replies leave becomes one that reads
    quiet = ReplyBudget(per_connection=16 * MiB, total=8 * MiB)
    fresh = connected(quiet, "10.0.0.1", reads=False)
    for i in range(ANSWERED_ENOUGH):
        request = reserve(quiet, fresh, f"f{i}", MiB)
        assert request.started  # type: ignore[attr-defined]
        quiet.release(request, fresh)  # type: ignore[arg-type]
    assert fresh.answered == ANSWERED_ENOUGH


def test_review_frees_the_waiting_machines_share_from_its_own_stalled_peers() -> None:
    """Rule: when every waiting connection's machine is over its share (one machine: the
    share is the total), review still closes that machine's stalled connections to make
    room, and not a reading one."""
    now = time.monotonic()
    budget = ReplyBudget(per_connection=16 * MiB, total=4 * MiB, stall_timeout=5.0)
    stalled, reading = FakeEndpoint(now - 6.0), FakeEndpoint()
    deaf = connected(budget, "10.0.0.1", stalled)
    slow = connected(budget, "10.0.0.1", reading)
    assert reserve(budget, deaf, "d", 3 * MiB).started  # type: ignore[attr-defined]
    assert reserve(budget, slow, "s", MiB).started  # type: ignore[attr-defined]
    assert not reserve(budget, connected(budget, "10.0.0.1"), "waits", MiB).started  # type: ignore[attr-defined]
    budget.review()
    assert stalled.closed_for and reading.closed_for is None

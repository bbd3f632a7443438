"""Backlog counts kept as tickets open, move and close must equal a fresh count of the open tickets."""

from __future__ import annotations

import collections
import random

from stream.tickets.backlog import OpenTicket, OpenTickets


def ticket(queue: str, priority: int, agent: str | None, created: float) -> OpenTicket:
    return OpenTicket(queue, priority, agent, "open", created, None, 0)


def test_counts_and_oldest_follow_every_change() -> None:
    rnd = random.Random(11)
    tickets = OpenTickets()
    for step in range(5000):
        tid = f"t{rnd.randrange(300)}"
        if rnd.random() < 0.3:
            tickets.pop(tid, None)  # resolved
        else:
            created = tickets[tid].created_at if tid in tickets and rnd.random() < 0.7 else float(step)
            tickets[tid] = ticket(rnd.choice("abc"), rnd.randrange(1, 4), rnd.choice([None, "ann"]), created)
        if step % 250 == 0:
            expected = collections.Counter((t.queue, t.priority, t.agent) for t in tickets.values())
            assert tickets.counts == expected
            oldest: dict[str, float] = {}
            for t in tickets.values():
                oldest[t.queue] = min(oldest.get(t.queue, t.created_at), t.created_at)
            assert tickets.oldest() == oldest


def test_an_emptied_queue_drops_out() -> None:
    tickets = OpenTickets()
    tickets["x"] = ticket("vip", 1, None, 5.0)
    del tickets["x"]
    assert not tickets.counts and tickets.oldest() == {}
    assert tickets.pop("x") is None

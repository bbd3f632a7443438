"""The route stage never crashes on a record: a post, event or command whose handling raises is a dead
letter with the reason, the other posts of its frame go on, and every post is counted once."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from stream.tickets import stage as stage_module
from tests.tickets.test_stage import NOW, scored, stage


def test_a_post_whose_handling_raises_is_dead_lettered_and_its_frame_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = stage()
    real = s.route

    def route(post: Any) -> Any:
        if post.post.post_id == "2":
            raise OverflowError("date value out of range")
        return real(post)

    monkeypatch.setattr(s, "route", route)
    frame = [scored(i, f"c{i}") for i in range(4)]
    out = s.process(orjson.dumps(frame), "triage.posts.actionable", 0, 5, NOW)
    assert out.posts == 3 and out.dead_posts == 1  # every post of the frame counted once
    [dead] = [orjson.loads(r.value) for r in out.dead_letters]
    assert dead["reason"] == "internal error in the route stage: OverflowError: date value out of range"
    assert orjson.loads(base64.b64decode(dead["original_b64"]))["post"]["post_id"] == "2"
    assert len(out.tickets) == 3


def test_an_event_or_command_that_breaks_parsing_is_a_dead_letter_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = stage()

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(stage_module.TicketEvent, "model_validate_json", boom)
    monkeypatch.setattr(stage_module.OpsCommand, "model_validate_json", boom)
    out = s.process_event(b'{"type": "resolved"}', "triage.ticket-events", 0, 1, NOW)
    assert out.events["invalid/dead_letter"] == 1 and len(out.dead_letters) == 1
    out = s.process_command(b'{"type": "retask"}', "triage.commands", 0, 1, NOW)
    assert out.events["command/invalid"] == 1 and len(out.dead_letters) == 1
    assert "OverflowError" in orjson.loads(out.dead_letters[0].value)["reason"]

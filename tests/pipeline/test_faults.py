"""An exception on a record's path (a bug, or input nothing foresaw) never crashes a stage and never makes
posts vanish: the posts it hits become dead letters with the reason, and the books still balance."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from classifiers import LexiconScorer
from schemas.events import Outcome
from stream.pipeline import triage as triage_module
from stream.pipeline.triage import TriageOutput, TriageStage
from stream.settings import Settings
from tests.factory import post


def books_balance(out: TriageOutput) -> bool:
    forwarded = sum(1 for r in out.forward for item in orjson.loads(r.value) if "post" in item)
    decided = sum(out.outcomes[o] for o in (Outcome.FILTERED, Outcome.DUPLICATE, Outcome.DEAD_LETTER))
    return out.posts_in == decided + forwarded


def test_an_exception_mid_frame_dead_letters_that_chunk_and_the_rest_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stage = TriageStage(Settings(partitions=4), LexiconScorer())
    real = triage_module.post_keys

    def keys(platform: str, post_id: str, *args: Any) -> Any:
        if post_id == "13":
            raise OverflowError("date value out of range")  # what a year-9999 date did
        return real(platform, post_id, *args)

    monkeypatch.setattr(triage_module, "post_keys", keys)
    frame = [post(i, f"my order {i} never arrived, @acme please help") for i in range(30)]
    now = time.time()
    items, out = stage.decode(orjson.dumps(frame), "raw", 0, 7, now)
    for i in range(0, len(items), 10):  # three chunks, as the handler gives them
        stage.process_safely(items[i : i + 10], "raw", 0, 7, now, out)
    assert out.posts_in == 30 and books_balance(out)
    assert out.outcomes[Outcome.DEAD_LETTER] == 10  # the chunk of post 13, every item of it
    reasons = {orjson.loads(r.value)["reason"] for r in out.dead_letters}
    assert reasons == {"internal error in triage: OverflowError: date value out of range"}
    originals = {orjson.loads(r.value)["original_b64"] for r in out.dead_letters}
    assert len(originals) == 10  # each keeps its own post
    dead = {d["post"] for d in out.audit if d["outcome"] == Outcome.DEAD_LETTER}
    assert dead == {f"x:{i}" for i in range(10, 20)}

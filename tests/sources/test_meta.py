import asyncio
import hashlib
import hmac
import logging

import aiohttp
import orjson
import pytest

from stream.sources.meta import MetaWebhookSource, meta_to_posts, signature_ok
from stream.sources.testing import MemorySink, wait_for
from tests.sources.contract import PushSourceContract, count
from tests.sources.support import make_settings

SECRET = "app-secret-abcdef123456"
VERIFY = "verify-me-please-42"

PAGE_DELIVERY = {
    "object": "page",
    "entry": [
        {
            "id": "1067280970047460",
            "time": 1715594400,
            "changes": [
                {
                    "field": "feed",
                    "value": {
                        "item": "status",
                        "verb": "add",
                        "post_id": "1067280970047460_795516722711",
                        "published": 1,
                        "created_time": 1715594400,
                        "message": "Your app logged me out again @AcmeBank #fail",
                        "from": {"id": "24242424242", "name": "Jo Customer"},
                    },
                },
                {
                    "field": "feed",
                    "value": {
                        "item": "comment",
                        "verb": "add",
                        "post_id": "1067280970047460_795516722711",
                        "comment_id": "795516722711_123456",
                        "parent_id": "1067280970047460_795516722711",
                        "created_time": 1715594460,
                        "message": "same here, can't log in",
                        "from": {"id": "3131313131", "name": "Sam"},
                    },
                },
                {
                    "field": "feed",
                    "value": {"item": "reaction", "verb": "add", "reaction_type": "like", "post_id": "1_2"},
                },
                {
                    "field": "feed",
                    "value": {"item": "comment", "verb": "remove", "comment_id": "9_9", "post_id": "1_2"},
                },
                {
                    "field": "mention",
                    "value": {
                        "item": "post",
                        "verb": "add",
                        "post_id": "44444444_444",
                        "sender_id": "44444444",
                        "sender_name": "Ann Other",
                        "message": "thanks @AcmeBank, sorted",
                    },
                },
            ],
        }
    ],
}

IG_DELIVERY = {
    "object": "instagram",
    "entry": [
        {
            "id": "17841400008460056",
            "time": 1715594500,
            "changes": [
                {
                    "field": "comments",
                    "value": {
                        "from": {"id": "232323232", "username": "jo.pics"},
                        "media": {"id": "123123123", "media_product_type": "FEED"},
                        "id": "17865799348089039",
                        "text": "where is my refund?",
                    },
                },
                {
                    "field": "mentions",
                    "value": {"media_id": "17887498072083520", "comment_id": "17887498072083521"},
                },
                {"field": "story_insights", "value": {"media_id": "1", "impressions": 4}},
            ],
        }
    ],
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(kind: str, *changes: dict) -> dict:
    return {
        "object": kind,
        "entry": [{"id": "1067280970047460", "time": 1715594400, "changes": list(changes)}],
    }


def page_status(i: int) -> dict:
    return delivery(
        "page",
        {
            "field": "feed",
            "value": {
                "item": "status",
                "verb": "add",
                "post_id": f"1067280970047460_79551672271{i}",
                "created_time": 1715594400 + i,
                "message": f"Your app logged me out again @AcmeBank #fail ({i})",
                "from": {"id": f"2424242424{i}", "name": "Jo Customer"},
            },
        },
    )


class TestMetaContract(PushSourceContract):
    platform = "facebook"
    path = "/meta/webhook"
    accepted = 200
    config_errors = [
        ({"meta_app_secret": None}, "TRIAGE_META_APP_SECRET"),
        ({"meta_verify_token": None}, "TRIAGE_META_VERIFY_TOKEN"),
    ]

    def make_source(self, sink, clock=None, **settings):
        values = {"meta_app_secret": SECRET, "meta_verify_token": VERIFY, **settings}
        return MetaWebhookSource(make_settings(self.tmp_path, **values), sink)

    def payload(self, i):
        return page_status(i)

    def expected(self, i):
        return {
            "post_id": f"1067280970047460_79551672271{i}",
            "author": {"id": f"2424242424{i}", "handle": "Jo Customer", "display_name": "Jo Customer"},
            "text": f"Your app logged me out again @AcmeBank #fail ({i})",
            "url": f"https://www.facebook.com/1067280970047460_79551672271{i}",
        }

    def dated(self, i, when):
        payload = page_status(i)
        payload["entry"][0]["changes"][0]["value"]["created_time"] = when
        return payload

    def malformed_payloads(self):
        return [
            b"{oops",  # refused with 400
            {"object": "page"},  # answered 200, or Meta would resend it forever; counted
            delivery("page", {"field": "feed", "value": "not an object"}),
            self.dated(6, 1e20),  # a time fromtimestamp cannot take (OSError): was a 500
        ]

    def unwanted_payloads(self):
        return [
            delivery(
                "page", {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": "1_2"}}
            ),
            delivery(
                "page", {"field": "feed", "value": {"item": "comment", "verb": "remove", "post_id": "1_2"}}
            ),
            delivery("instagram", {"field": "story_insights", "value": {"media_id": "1", "impressions": 4}}),
        ]

    def credentials(self, body):
        return {"X-Hub-Signature-256": sign(body)}

    def forged_credentials(self, body):
        return [
            {"X-Hub-Signature-256": sign(body, "wrong")},
            {},
            {"X-Hub-Signature-256": sign(body + b"x")},
            {"X-Hub-Signature-256": sign(body).replace("sha256=", "sha1=")},
        ]


def test_signature_check():
    body = b'{"object":"page"}'
    assert signature_ok(SECRET.encode(), body, sign(body))
    assert not signature_ok(SECRET.encode(), body + b" ", sign(body))
    assert not signature_ok(SECRET.encode(), body, sign(body, "other"))
    assert not signature_ok(SECRET.encode(), body, sign(body).replace("sha256=", "sha1="))
    assert not signature_ok(SECRET.encode(), body, None)


def test_page_posts_comments_and_mentions_become_posts():
    posts, skipped, errors = meta_to_posts(PAGE_DELIVERY, brand="acme")
    assert [p["post_id"] for p in posts] == [
        "1067280970047460_795516722711",
        "795516722711_123456",
        "44444444_444",
    ]
    assert skipped == 2 and errors == []
    status, comment, mention = posts
    assert status["platform"] == "facebook" and status["author"]["display_name"] == "Jo Customer"
    assert status["created_at"] == "2024-05-13T10:00:00Z" and status["hashtags"] == ["fail"]
    assert comment["reply_to"] == "1067280970047460_795516722711"
    assert comment["conversation_id"] == "1067280970047460_795516722711"
    assert mention["author"]["id"] == "44444444" and mention["source"] == "meta:mention"


def test_instagram_comments_and_mentions_become_posts():
    posts, skipped, errors = meta_to_posts(IG_DELIVERY)
    assert [(p["platform"], p["post_id"]) for p in posts] == [
        ("instagram", "17865799348089039"),
        ("instagram", "17887498072083521"),
    ]
    assert posts[0]["author"]["handle"] == "jo.pics" and posts[0]["reply_to"] == "123123123"
    assert skipped == 1 and not errors
    assert meta_to_posts({"object": "page"})[2] == ["not a webhook delivery (no entry list)"]


@pytest.fixture
async def meta(tmp_path):
    sink = MemorySink()
    src = MetaWebhookSource(make_settings(tmp_path, meta_app_secret=SECRET, meta_verify_token=VERIFY), sink)
    task = asyncio.create_task(src.run())
    await wait_for(lambda: src.port is not None)
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{src.port}") as http:
        yield src, sink, http
    src.stop()
    await asyncio.wait_for(task, 5)


def failures(src):
    return count(src, "signature_failures_total")


async def test_the_verification_handshake(meta):
    src, _sink, http = meta
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    async with http.get("/meta/webhook", params=good) as r:
        assert r.status == 200 and await r.text() == "1158201444"
    async with http.get("/meta/webhook", params={**good, "hub.verify_token": "nope"}) as r:
        assert r.status == 403
    assert failures(src) == 1


async def test_a_delivery_of_several_posts_gets_event_received_and_bad_json_400(meta):
    _src, sink, http = meta
    body = orjson.dumps(PAGE_DELIVERY)
    async with http.post("/meta/webhook", data=body, headers={"X-Hub-Signature-256": sign(body)}) as r:
        assert r.status == 200 and await r.text() == "EVENT_RECEIVED"
    assert len(sink.stored) == 3
    bad = b"{oops"
    async with http.post("/meta/webhook", data=bad, headers={"X-Hub-Signature-256": sign(bad)}) as r:
        assert r.status == 400
    assert len(sink.added) == 3


async def test_secrets_never_reach_the_logs(meta, caplog):
    caplog.set_level(logging.DEBUG)
    _src, _sink, http = meta
    body = orjson.dumps(PAGE_DELIVERY)
    async with http.post("/meta/webhook", data=body, headers={"X-Hub-Signature-256": sign(body, "x")}) as r:
        assert r.status == 401
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"}
    async with http.get("/meta/webhook", params=params) as r:
        assert r.status == 200
    assert SECRET not in caplog.text and VERIFY not in caplog.text


def test_changes_of_the_wrong_shape_are_counted_broken_not_a_crash():
    """A `changes` that is not a list, a change that is not an object, a `from` that is not an object: each
    is one broken change with its reason (the delivery is answered 200), never an exception (a 500)."""
    payload = page_status(1)
    good = payload["entry"][0]["changes"][0]
    odd_from = {"field": "feed", "value": {**good["value"], "post_id": "1067280970047460_2", "from": 5}}
    payload["entry"][0]["changes"] += [odd_from, 7]
    payload["entry"].append({"id": "1", "time": 1, "changes": "not a list"})
    posts, _, errors = meta_to_posts(payload, brand="acme")
    assert [p["post_id"] if isinstance(p, dict) else p.post_id for p in posts] == [good["value"]["post_id"]]
    assert "change is not an object" in errors and len(errors) == 2

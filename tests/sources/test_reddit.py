import base64
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from stream.sources.base import ConfigError
from stream.sources.reddit import RedditSource, base36, reddit_to_post
from stream.sources.testing import FakeClock, MemorySink, run_until
from tests.sources.contract import PullSourceContract, count
from tests.sources.support import make_settings

SECRET = "reddit-secret-zz9"


def submission(n: int, title: str = "Acme router keeps dropping wifi", **extra) -> dict:
    rid = _b36(base36("1cq0000") + n)
    return {
        "kind": "t3",
        "data": {
            "id": rid,
            "name": f"t3_{rid}",
            "subreddit": "acme",
            "author": "jo_user",
            "author_fullname": "t2_abc123",
            "title": title,
            "selftext": "Third time this week.",
            "created_utc": 1715594400.0 + n,
            "permalink": f"/r/acme/comments/{rid}/acme_router/",
            "score": 12,
            "num_comments": 3,
            **extra,
        },
    }


def comment(n: int, body: str = "same problem with my acme router") -> dict:
    rid = _b36(base36("l4z0000") + n)
    return {
        "kind": "t1",
        "data": {
            "id": rid,
            "name": f"t1_{rid}",
            "subreddit": "acme",
            "author": "sam",
            "author_fullname": "t2_def456",
            "body": body,
            "created_utc": 1715594500 + n,
            "link_id": "t3_1cq0001",
            "parent_id": "t3_1cq0001",
            "permalink": f"/r/acme/comments/1cq0001/x/{rid}/",
            "score": -2,
        },
    }


def _newest_first(child) -> int:
    """Reddit lists the newest first; a child shaped wrong (a test of what the adapter survives) sorts
    last."""
    data = child.get("data") if isinstance(child, dict) else None
    try:
        return -base36(data.get("id") or "0") if isinstance(data, dict) else 0
    except (TypeError, ValueError):
        return 0


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


class FakeReddit:
    def __init__(self) -> None:
        self.items: dict[str, list[dict]] = {"new": [], "comments": []}
        self.fail: list[int] = []
        self.remaining = "598.0"
        self.tokens = 0
        self.requests: list[web.Request] = []
        self.revoke = False
        app = web.Application()
        app.add_routes(
            [web.post("/api/v1/access_token", self.token), web.get("/r/{subs}/{listing}", self.listing)]
        )
        self.server = TestServer(app, host="127.0.0.1")

    async def token(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"cid:{SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        self.tokens += 1
        return web.json_response(
            {"access_token": f"tok-{self.tokens}", "token_type": "bearer", "expires_in": 86400}
        )

    async def listing(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if self.revoke and request.headers["Authorization"] == "bearer tok-1":
            return web.Response(status=401)
        if self.fail:
            status = self.fail.pop(0)
            return web.Response(status=status, headers={"x-ratelimit-reset": "100"})
        children = sorted(self.items[request.match_info["listing"]], key=_newest_first)
        after = request.query.get("after")
        if after:
            idx = next(i for i, c in enumerate(children) if c["data"]["name"] == after)
            children = children[idx + 1 :]
        limit = int(request.query.get("limit", 25))
        page = children[:limit]
        more = len(children) > limit
        headers = {
            "x-ratelimit-remaining": self.remaining,
            "x-ratelimit-used": "2",
            "x-ratelimit-reset": "42",
        }
        body = {
            "kind": "Listing",
            "data": {"after": page[-1]["data"]["name"] if more else None, "children": page},
        }
        return web.json_response(body, headers=headers)


@pytest.fixture
async def reddit():
    fake = FakeReddit()
    await fake.server.start_server()
    yield fake
    await fake.server.close()


def source(tmp_path, fake, sink, clock=None, **overrides):
    clock = clock or FakeClock()
    base = str(fake.server.make_url("")).rstrip("/")
    values = {
        "reddit_api_url": base,
        "reddit_auth_url": f"{base}/api/v1/access_token",
        "reddit_client_id": "cid",
        "reddit_client_secret": SECRET,
        "reddit_subreddits": ["r/acme", "techsupport"],
        "reddit_poll_interval_s": 30,
    }
    values.update(overrides)
    return RedditSource(make_settings(tmp_path, **values), sink, sleep=clock.sleep, clock=clock)


class TestRedditContract(PullSourceContract):
    platform = "reddit"
    config_errors = [
        ({"reddit_subreddits": []}, "TRIAGE_REDDIT_SUBREDDITS"),
        ({"reddit_client_secret": None}, "TRIAGE_REDDIT_CLIENT_SECRET"),
    ]

    @pytest.fixture(autouse=True)
    def _platform(self, reddit):
        self.fake = reddit

    def make_source(self, sink, clock=None, **settings):
        return source(self.tmp_path, self.fake, sink, clock, **{"brand_keywords": ["acme"], **settings})

    def payload(self, i):
        return submission(i)

    def expected(self, i):
        return {
            "post_id": f"t3_{_b36(base36('1cq0000') + i)}",
            "author": {"id": "t2_abc123", "handle": "jo_user"},
            "text": "Acme router keeps dropping wifi\n\nThird time this week.",
        }

    def malformed_payloads(self):
        return [
            {"kind": "t3", "data": {"title": "Acme without an id"}},
            submission(5, created_utc="soon"),
            submission(6, id="not/base36"),
            submission(7, created_utc=1e20),  # fromtimestamp: OSError, not a ValueError
            "not an object",
        ]

    def dated(self, i, when):
        return submission(i, created_utc=when)

    def unwanted_payloads(self):
        return [submission(5, title="Which mouse should I buy?", selftext="")]

    def serve(self, payloads):
        self.fake.items["new"] = list(payloads)


def test_posts_and_comments_normalise():
    post = reddit_to_post("t3", submission(1)["data"], brand="acme")
    assert post["post_id"] == "t3_1cq0001" and post["text"].startswith(
        "Acme router keeps dropping wifi\n\nThird"
    )
    assert post["url"] == "https://www.reddit.com/r/acme/comments/1cq0001/acme_router/"
    assert post["author"] == {"id": "t2_abc123", "handle": "jo_user", "followers": 0, "verified": False}
    assert post["engagement"]["replies"] == 3 and post["source"] == "reddit:r/acme"
    c = reddit_to_post("t1", comment(1)["data"])
    assert c["reply_to"] == "t3_1cq0001" and c["conversation_id"] == "t3_1cq0001"
    assert c["engagement"]["likes"] == 0  # negative score floors at 0


async def test_polls_both_listings_then_only_new_items_across_restarts(tmp_path, reddit):
    reddit.items["new"] = [submission(i) for i in (1, 2)]
    reddit.items["comments"] = [comment(1)]
    first, clock = MemorySink(), FakeClock()
    src = source(tmp_path, reddit, first, clock)
    await run_until(src, lambda: len(first.stored) == 3 and len(clock.sleeps) >= 2)
    assert first.ids == ["t3_1cq0001", "t3_1cq0002", "t1_l4z0001"]
    assert reddit.requests[0].path == "/r/acme+techsupport/new"
    assert reddit.requests[0].headers["User-Agent"] == "social-triage/0.1"
    # 250 new posts while down: paged back with `after` until the stored id
    reddit.items["new"] += [submission(i) for i in range(3, 253)]
    second = MemorySink()
    src = source(tmp_path, reddit, second, FakeClock())
    await run_until(src, lambda: len(second.added) == 250)
    assert second.ids == [f"t3_{_b36(base36('1cq0000') + i)}" for i in range(3, 253)]
    assert reddit.tokens == 2


async def test_429_waits_for_the_reset_and_a_low_budget_pauses(tmp_path, reddit):
    reddit.items["new"] = [submission(1)]
    reddit.fail = [429, 503]
    reddit.remaining = "1.0"
    sink, clock = MemorySink(), FakeClock()
    src = source(tmp_path, reddit, sink, clock)
    await run_until(src, lambda: len(sink.added) == 1 and len(clock.sleeps) >= 4)
    assert clock.sleeps[:4] == [100, 5, 42, 42]  # 429 (reset 100 s > 60 s), 503, then budget waits
    assert count(src, "reconnects_total", reason="rate_limit") == 1


async def test_a_revoked_token_is_renewed_once(tmp_path, reddit):
    reddit.items["new"] = [submission(1)]
    reddit.revoke = True
    sink = MemorySink()
    src = source(tmp_path, reddit, sink)
    await run_until(src, lambda: len(sink.added) == 1)
    assert reddit.tokens == 2


async def test_bad_credentials_are_a_clear_error(tmp_path, reddit, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError, match="token request refused with HTTP 401"):
        await source(tmp_path, reddit, MemorySink(), reddit_client_secret="wrong-" + SECRET).run()
    assert SECRET not in caplog.text

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from stream.sources.normalize import NormalizeError
from stream.sources.rss import RssSource, entry_to_post, parse_feed
from stream.sources.testing import FakeClock, MemorySink, run_until
from tests.sources.contract import PullSourceContract, count
from tests.sources.support import make_settings

BOILER = "&lt;p&gt;My &lt;b&gt;Acme&lt;/b&gt; boiler is broken&lt;/p&gt;"


def item(
    guid: str, title: str, description: str = BOILER, published: str = "Mon, 13 May 2024 10:00:00 +0000"
) -> str:
    return f"""<item><title>{title}</title><link>https://forum.example/t/{guid}</link>
        <guid isPermaLink="false">{guid}</guid><dc:creator>jo</dc:creator>
        <pubDate>{published}</pubDate>
        <description>{description}</description></item>"""


def rss(*items: tuple[str, str] | str) -> bytes:
    """A feed of items, newest first: ``(guid, title)`` pairs or :func:`item` markup."""
    body = "".join(x if isinstance(x, str) else item(*x) for x in items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Forum</title>
{body}</channel></rss>""".encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Reviews</title><id>urn:uuid:feed</id><updated>2024-05-13T12:00:00Z</updated>
  <entry>
    <title>1 star: Acme delivery never arrived</title>
    <link href="https://reviews.example/r/991"/>
    <id>tag:reviews.example,2024:991</id>
    <published>2024-05-13T11:00:00Z</published><updated>2024-05-13T11:30:00Z</updated>
    <author><name>Ann</name></author>
    <content type="html">&lt;p&gt;Waited two weeks.&lt;/p&gt;</content>
  </entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
 <item rdf:about="https://blog.example/p/1"><title>Acme rocks</title><link>https://blog.example/p/1</link>
 <description>love it</description><dc:date>2024-05-13T09:00:00Z</dc:date></item>
</rdf:RDF>"""


def test_rss_atom_and_rdf_entries_parse():
    [e] = parse_feed(rss(("101", "Boiler down")))
    assert e["id"] == "101" and e["author"] == "jo" and e["link"] == "https://forum.example/t/101"
    post = entry_to_post(e, "https://forum.example/feed.xml", brand="acme")
    assert post["post_id"] == "https://forum.example/feed.xml#101"
    assert post["text"] == "Boiler down\n\nMy Acme boiler is broken"
    assert post["created_at"] == "2024-05-13T10:00:00Z" and post["author"]["id"] == "forum.example:jo"
    [a] = parse_feed(ATOM)
    review = entry_to_post(a, "https://reviews.example/atom", platform="review")
    assert review["post_id"] == "tag:reviews.example,2024:991" and review["platform"] == "review"
    assert review["url"] == "https://reviews.example/r/991" and review["created_at"] == "2024-05-13T11:00:00Z"
    assert review["text"] == "1 star: Acme delivery never arrived\n\nWaited two weeks."
    [r] = parse_feed(RDF)
    assert r["id"] == "https://blog.example/p/1" and r["published"].year == 2024
    with pytest.raises(NormalizeError):
        parse_feed(b"<html><body>oops")


class FakeFeeds:
    def __init__(self) -> None:
        self.forum = rss(("101", "Boiler down"), ("100", "Old thread"))
        self.requests: list[web.Request] = []
        self.fail: list[int] = []
        app = web.Application()
        app.add_routes([web.get("/forum.xml", self.feed), web.get("/reviews.atom", self.atom)])
        self.server = TestServer(app, host="127.0.0.1")

    async def feed(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if self.fail:
            return web.Response(status=self.fail.pop(0))
        etag = f'"v{hash(self.forum) & 0xFFFF}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(body=self.forum, headers={"ETag": etag, "Content-Type": "application/rss+xml"})

    async def atom(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        modified = "Mon, 13 May 2024 12:00:00 GMT"
        if request.headers.get("If-Modified-Since") == modified:
            return web.Response(status=304)
        return web.Response(body=ATOM, headers={"Last-Modified": modified})

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def feeds():
    fake = FakeFeeds()
    await fake.server.start_server()
    yield fake
    await fake.server.close()


def source(tmp_path, fake, sink, clock=None, **overrides):
    clock = clock or FakeClock()
    values = {"rss_feeds": [fake.url("/forum.xml")], "rss_review_feeds": [fake.url("/reviews.atom")]}
    values.update(overrides)
    return RssSource(make_settings(tmp_path, **values), sink, sleep=clock.sleep, clock=clock)


class TestRssContract(PullSourceContract):
    platform = "forum"
    config_errors = [
        ({"rss_feeds": [], "rss_review_feeds": []}, "TRIAGE_RSS_FEEDS"),
        ({"rss_feeds": ["file:///etc/passwd"]}, "not http"),
    ]

    @pytest.fixture(autouse=True)
    def _platform(self, feeds):
        self.fake = feeds

    def make_source(self, sink, clock=None, **settings):
        defaults = {"rss_review_feeds": [], "brand_keywords": ["acme"]}
        return source(self.tmp_path, self.fake, sink, clock, **{**defaults, **settings})

    def payload(self, i):
        return item(str(i), f"Boiler down {i}")

    def expected(self, i):
        return {
            "post_id": f"{self.fake.url('/forum.xml')}#{i}",
            "author": {"id": "127.0.0.1:jo", "handle": "jo"},
            "text": f"Boiler down {i}\n\nMy Acme boiler is broken",
            "url": f"https://forum.example/t/{i}",
        }

    def malformed_payloads(self):
        return ["<item><title>Acme: neither guid nor link</title></item>"]

    def dated(self, i, when):
        return item(str(i), f"Boiler down {i}", published=when)

    def unwanted_payloads(self):
        return [item("5", "Kettle advice", "which cheap kettle lasts?")]

    def serve(self, payloads):
        self.fake.forum = rss(*reversed(payloads))  # feeds list the newest first


async def test_conditional_get_and_seen_ids_survive_a_restart(tmp_path, feeds):
    first, clock = MemorySink(), FakeClock()
    src = source(tmp_path, feeds, first, clock)
    await run_until(src, lambda: len(clock.sleeps) >= 2)
    assert [p["post_id"].rsplit("#", 1)[-1] for p in first.added] == [
        "100",
        "101",
        "tag:reviews.example,2024:991",
    ]
    assert [p["platform"] for p in first.added] == ["forum", "forum", "review"]
    second_poll = feeds.requests[2:4]
    assert second_poll[0].headers["If-None-Match"] and second_poll[1].headers["If-Modified-Since"]
    # restart: the feed gained one entry and its ETag changed; only the new entry is produced
    feeds.forum = rss(("102", "Still broken"), ("101", "Boiler down"), ("100", "Old thread"))
    second, start = MemorySink(), len(feeds.requests)
    src = source(tmp_path, feeds, second)
    await run_until(src, lambda: len(feeds.requests) >= start + 2)
    assert [p["post_id"].rsplit("#", 1)[-1] for p in second.added] == ["102"]
    atom = feeds.requests[start + 1]
    assert atom.path == "/reviews.atom"
    assert atom.headers.get("If-Modified-Since") == "Mon, 13 May 2024 12:00:00 GMT"


async def test_a_failing_feed_does_not_hold_up_the_others(tmp_path, feeds):
    feeds.fail = [503, 503]
    sink, clock = MemorySink(), FakeClock()
    src = source(tmp_path, feeds, sink, clock)
    await run_until(src, lambda: len(sink.added) == 3)
    assert sink.added[0]["platform"] == "review"  # first poll: forum failed, reviews went ahead
    assert count(src, "reconnects_total", reason="http") == 2

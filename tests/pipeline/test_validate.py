from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from stream.pipeline.validate import validate_items


def post(i: int, **over):
    p = {
        "platform": "x",
        "post_id": str(i),
        "author": {"id": f"a{i}", "handle": f"h{i}"},
        "text": f"post {i}",
        "created_at": "2026-11-22T10:00:00Z",
    }
    p.update(over)
    return p


def test_a_clean_frame_validates_in_order():
    good, bad = validate_items([post(1), post(2)])
    assert [i for i, _ in good] == [0, 1] and bad == []
    assert good[1][1].key == "x:2"


def test_bad_items_are_singled_out_with_reasons_and_the_rest_kept():
    items = [
        post(1),
        {"platform": "x"},
        post(3, created_at="yesterday"),
        "not a post",
        post(5, platform="myspace"),
    ]
    good, bad = validate_items(items)
    assert [i for i, _ in good] == [0]
    reasons = {i: r for i, _, r in bad}
    assert set(reasons) == {1, 2, 3, 4}
    assert "author" in reasons[1] and "post_id" in reasons[1]
    assert "created_at" in reasons[2]
    assert "platform" in reasons[4]


def test_empty_text_is_only_allowed_for_reposts():
    good, bad = validate_items([post(1, text="  "), post(2, text="", repost_of="1")])
    assert [i for i, _ in good] == [1]
    assert bad[0][0] == 0 and "empty" in bad[0][2]


def test_naive_times_are_taken_as_utc():
    good, _ = validate_items([post(1, created_at="2026-11-22T10:00:00")])
    assert good[0][1].created_at.utcoffset().total_seconds() == 0


def test_dates_that_overflow_in_utc_are_dead_lettered_with_a_reason_and_the_frame_goes_on():
    """9999-12-31T23:59:59-01:00 is after the last instant a datetime holds once in UTC, and
    0001-01-01T00:30:00+01:00 before the first: converting them raised OverflowError, which escaped
    validation and took every post of the frame with it."""
    items = [
        post(1),
        post(2, created_at="9999-12-31T23:59:59-01:00"),
        post(3, created_at="0001-01-01T00:30:00+01:00"),
        post(4, ingested_at="9999-12-31T23:59:59-01:00"),
        post(5),
    ]
    good, bad = validate_items(items)
    assert [i for i, _ in good] == [0, 4]
    reasons = {i: r for i, _, r in bad}
    assert set(reasons) == {1, 2, 3}
    assert reasons[1].startswith("invalid post: created_at: 9999-12-31T23:59:59-01:00 is outside")
    assert reasons[2].startswith("invalid post: created_at: 0001-01-01T00:30:00+01:00 is outside")
    assert reasons[3].startswith("invalid post: ingested_at: ")
    assert all("2006-01-01T00:00:00Z" in r for r in reasons.values())


def test_post_dates_are_bounded_from_2006_to_a_day_ahead():
    now = datetime.now(UTC)
    items = [
        post(1, created_at="2006-01-01T00:00:00Z"),
        post(2, created_at="2005-12-31T23:59:59Z"),
        post(3, created_at=(now + timedelta(hours=23)).isoformat()),
        post(4, created_at=(now + timedelta(days=1, minutes=1)).isoformat()),
        post(5, created_at="1970-01-01T00:00:00Z"),
        post(6, created_at="2999-01-01T00:00:00Z"),
    ]
    good, bad = validate_items(items)
    assert [i for i, _ in good] == [0, 2]
    assert [i for i, _, _ in bad] == [1, 3, 4, 5]
    assert all("created_at" in r and "outside the accepted range" in r for _, _, r in bad)


class _Exploding(Mapping):
    """An item whose reading raises something that is not a ValidationError."""

    def __getitem__(self, key):
        raise RuntimeError("cannot read me")

    def __iter__(self):
        raise RuntimeError("cannot read me")

    def __len__(self):
        return 1


def test_anything_an_item_raises_becomes_its_reason_not_the_frame_s():
    good, bad = validate_items([post(1), _Exploding(), post(3)])
    assert [i for i, _ in good] == [0, 2]
    [(i, _item, reason)] = bad
    assert i == 1 and reason == "invalid post: RuntimeError: cannot read me"

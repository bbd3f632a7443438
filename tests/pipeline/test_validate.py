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

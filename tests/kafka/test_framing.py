import orjson
import pytest

from stream.kafka.framing import RecordError, decode_record, encode_frame


def test_a_frame_decodes_to_its_posts_and_a_single_post_to_one():
    assert decode_record(encode_frame([{"a": 1}, {"b": 2}]), 1000) == [{"a": 1}, {"b": 2}]
    assert decode_record(orjson.dumps({"a": 1}), 1000) == [{"a": 1}]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty record"),
        (None, "empty record"),
        (b"[]", "empty frame"),
        (b'{"platform": "x", ', "invalid JSON"),
        (b"\xff\xfe\x00", "invalid JSON"),
        (b"42", "expected a post object or a frame"),
        (b'"text"', "expected a post object or a frame"),
        (b"[" + b"1," * 600 + b"1]", "exceeds the limit"),
    ],
)
def test_unusable_records_say_why(value, reason):
    with pytest.raises(RecordError, match=reason):
        decode_record(value, 1000)

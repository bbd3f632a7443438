import itertools

from stream.sources.backoff import (
    HTTP_ERRORS,
    NETWORK_ERRORS,
    RATE_LIMITED,
    BackoffPolicy,
    Failure,
    Schedule,
)


def test_network_errors_back_off_linearly_by_250ms_up_to_16s():
    delays = [NETWORK_ERRORS.delay(n) for n in range(1, 70)]
    assert delays[:4] == [0.25, 0.5, 0.75, 1.0]
    assert delays[63] == 16.0 and max(delays) == 16.0
    assert all(b - a in (0.25, 0.0) for a, b in itertools.pairwise(delays))


def test_http_errors_back_off_exponentially_from_5s_up_to_320s():
    assert [HTTP_ERRORS.delay(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 320, 320]


def test_rate_limits_back_off_exponentially_from_a_minute():
    assert [RATE_LIMITED.delay(n) for n in range(1, 5)] == [60, 120, 240, 480]
    assert RATE_LIMITED.delay(10_000) == RATE_LIMITED.cap  # no float overflow after a long outage


def test_policy_counts_each_kind_and_resets_after_a_good_connection():
    policy = BackoffPolicy()
    assert [policy.next_delay(Failure.HTTP) for _ in range(3)] == [5, 10, 20]
    assert policy.next_delay(Failure.NETWORK) == 0.25
    assert policy.next_delay(Failure.RATE_LIMIT) == 60
    policy.reset()
    assert policy.next_delay(Failure.HTTP) == 5


def test_retry_after_lengthens_but_never_shortens():
    policy = BackoffPolicy()
    assert policy.next_delay(Failure.RATE_LIMIT, retry_after=300) == 300
    assert policy.next_delay(Failure.RATE_LIMIT, retry_after=1) == 120


def test_scaled_policy_keeps_the_shape():
    policy = BackoffPolicy.scaled(0.001)
    assert [round(policy.next_delay(Failure.HTTP), 6) for _ in range(3)] == [0.005, 0.01, 0.02]
    assert Schedule(1.0, 3.0, step=1.0).delay(0) == 1.0

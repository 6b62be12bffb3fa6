"""trae.RateLimiter: trae-core's exact rolling windows from Python, with an explicit clock."""

from datetime import datetime, timedelta, timezone

import pytest

import trae

T0 = datetime(2026, 11, 26, 10, 0, 59, 900000, tzinfo=timezone.utc)


def test_a_burst_across_a_minute_boundary_is_still_one_window():
    limiter = trae.RateLimiter()
    for _ in range(10):
        assert limiter.check("client", per_minute=10, at=T0).allowed
    refused = limiter.check("client", per_minute=10, at=T0 + timedelta(milliseconds=200))
    assert not refused and not refused.allowed
    assert refused.retry_after == pytest.approx(59.8)
    assert refused.windows[0].remaining == 0
    assert not limiter.check("client", per_minute=10, at=T0 + timedelta(seconds=59.999))
    assert limiter.check("client", per_minute=10, at=T0 + timedelta(seconds=60))


def test_a_refused_call_charges_no_window():
    limiter = trae.RateLimiter()
    for i in range(3):
        assert limiter.check("k", per_minute=3, per_hour=5, at=T0 + timedelta(seconds=i))
    for i in range(50):
        assert not limiter.check("k", per_minute=3, per_hour=5, at=T0 + timedelta(seconds=10 + i / 10))
    later = limiter.check("k", per_minute=3, per_hour=5, at=T0 + timedelta(minutes=2))
    assert later.allowed
    minute, hour = later.windows
    assert (minute.window, minute.limit) == (60.0, 3)
    assert (hour.window, hour.remaining) == (3600.0, 1), "only admitted calls count"


def test_keys_are_independent_and_resettable():
    limiter = trae.RateLimiter()
    assert limiter.check("a", per_day=1, at=T0)
    assert not limiter.check("a", per_day=1, at=T0 + timedelta(hours=23))
    assert limiter.check("b", per_day=1, at=T0)
    assert len(limiter) == 2
    assert limiter.reset("a") and not limiter.reset("a")
    assert limiter.check("a", per_day=1, at=T0 + timedelta(hours=23))


def test_bad_limits_raise_with_the_field():
    limiter = trae.RateLimiter()
    with pytest.raises(trae.ValidationError) as err:
        limiter.check("k", per_minute=0)
    assert err.value.field == "limits.per_minute"
    with pytest.raises(trae.ValidationError) as err:
        limiter.check("k")
    assert err.value.field == "limits"
    with pytest.raises(trae.ValidationError):
        limiter.check("k", per_minute=1, at=datetime(2026, 1, 1))
    with pytest.raises(OverflowError):
        limiter.check("k", per_minute=-1)

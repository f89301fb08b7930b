"""Durations and deadlines: what a user may write, and the errors for what they may not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hitl_notebook._core.times import deadline_ms, duration_seconds, from_ms, parse_duration, to_ms


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("4h", 14400),
        ("2d", 172800),
        ("1w", 604800),
        ("500ms", 0.5),
        ("1h30m", 5400),
        (" 1h 30m ", 5400),
        ("1 h", 3600),
        ("1.5h", 5400),
        ("0s", 0),
    ],
)
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    """Units from milliseconds to weeks, combined, with spaces between parts."""
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "4", "4 hours", "h", "1h-5m", "soon", "1m s", "1 m s", "1msx", "1e400s", "-1s"]
)
def test_unreadable_durations_say_how_to_write_one(text: str) -> None:
    """A duration that cannot be read names the accepted forms; nothing is guessed."""
    with pytest.raises(ValueError, match="'90s', '30m', '4h'"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["1M", "1H", "2D", "1h30M"])
def test_units_are_lowercase_and_a_month_is_not_a_duration(text: str) -> None:
    """'1M' is not a minute (nor a month): uppercase units are refused with the reason."""
    with pytest.raises(ValueError, match="units are lowercase"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        (float("inf"), "too long"),
        (1e300, "too long"),
        ("1000000000d", "too long"),
        (timedelta.max, "too long"),
        (float("nan"), "not NaN"),
        (float("-inf"), "negative"),
        ("1m s", "Cannot read '1m s' as a duration for timeout"),
    ],
)
def test_durations_no_deadline_can_hold_are_refused_naming_the_argument(
    timeout: object, message: str
) -> None:
    """Infinite, NaN, absurdly long: a ValueError naming the argument, never an OverflowError."""
    with pytest.raises(ValueError, match=message) as refused:
        deadline_ms(timeout, start_ms=0)  # type: ignore[arg-type]
    assert "timeout" in str(refused.value)


def test_zero_and_past_deadlines_are_due_at_once() -> None:
    """A zero timeout is due when the request is made; a past datetime is taken as it is."""
    assert deadline_ms(0, start_ms=5_000) == 5_000
    past = datetime(2020, 1, 1, tzinfo=UTC)
    assert deadline_ms(past, start_ms=5_000) == int(past.timestamp() * 1000)


def test_a_deadline_is_absolute_and_counted_from_the_request() -> None:
    """Durations count from the moment given; an aware datetime is taken as it is."""
    start = 1_800_000_000_000
    assert deadline_ms("1h", start_ms=start) == start + 3_600_000
    assert deadline_ms(timedelta(minutes=5), start_ms=start) == start + 300_000
    assert deadline_ms(2.5, start_ms=start) == start + 2_500
    moment = datetime(2027, 1, 1, 9, 0, tzinfo=UTC)
    assert from_ms(deadline_ms(moment, start_ms=start) or 0) == moment
    assert deadline_ms(None, start_ms=start) is None


def test_bad_deadlines_are_refused() -> None:
    """Naive datetimes, negative durations and other types get a clear error."""
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline_ms(datetime(2027, 1, 1), start_ms=0)
    with pytest.raises(ValueError, match="negative"):
        deadline_ms(-5, start_ms=0)
    with pytest.raises(TypeError, match="duration or a datetime"):
        deadline_ms(True, start_ms=0)


def test_durations_in_seconds() -> None:
    assert duration_seconds("1m30s") == 90
    assert duration_seconds(timedelta(minutes=2)) == 120
    assert duration_seconds(0) == 0
    with pytest.raises(ValueError, match="park_after must not be negative"):
        duration_seconds(-1, what="park_after")
    with pytest.raises(TypeError, match="park_after must be a duration"):
        duration_seconds(None, what="park_after")  # type: ignore[arg-type]


def test_a_millisecond_instant_goes_to_datetime_and_back_unchanged() -> None:
    """One conversion for every stored time: exact, and rounding down what is finer than a ms."""
    for ms in [*range(1_700_000_000_000, 1_700_000_002_000), 0, -1, 4_102_444_800_000]:
        assert to_ms(from_ms(ms)) == ms
    assert to_ms(datetime(2026, 1, 2, 3, 4, 5, 678_999, tzinfo=UTC)) % 1000 == 678
    assert to_ms(datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)) == -1
    local = datetime(2026, 1, 2, 3, 4, 5)
    assert to_ms(local) == to_ms(local.astimezone())

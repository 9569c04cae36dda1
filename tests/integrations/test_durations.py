"""The ISO-8601 duration parser behind connection timeouts."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.durations import DurationError, duration_format, duration_parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT30S", timedelta(seconds=30)),
        ("PT60S", timedelta(seconds=60)),
        ("PT1M30S", timedelta(seconds=90)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("PT1,25S", timedelta(milliseconds=1250)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(weeks=2)),
        ("pt45s", timedelta(seconds=45)),
        ("PT1.5M", timedelta(seconds=90)),
        ("P0D", timedelta(0)),
    ],
)
def test_it_parses_iso_8601_durations(text, expected):
    assert duration_parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30", "not an ISO-8601 duration"),
        ("30s", "not an ISO-8601 duration"),
        ("P", "no components"),
        ("PT", "no components"),
        ("P1DT", "a T with no"),
        ("P1Y", "years and months"),
        ("P1M", "years and months"),
        ("PT1.5M30S", "only the smallest component"),
        ("PT-5S", "not an ISO-8601 duration"),
        ("P1W2D", "not an ISO-8601 duration"),
        ("PT\uff13\uff10S", "not an ISO-8601 duration"),  # full-width digits
        ("", "not an ISO-8601 duration"),
        ("PT" + "9" * 80 + "S", "at most 64 characters"),
    ],
)
def test_it_refuses_what_is_not_a_duration_with_a_message(text, message):
    with pytest.raises(DurationError, match=message):
        duration_parse(text)


durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3000))


@given(durations)
def test_it_parses_back_what_it_formats(value):
    assert duration_parse(duration_format(value)) == value


@given(
    st.integers(0, 400),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999_999),
)
def test_it_sums_every_component(days, hours, minutes, seconds, micros):
    text = f"P{days}DT{hours}H{minutes}M{seconds}.{micros:06d}S"
    assert duration_parse(text) == timedelta(
        days=days, hours=hours, minutes=minutes, seconds=seconds, microseconds=micros
    )


@given(st.text(max_size=80))
def test_it_answers_any_text_with_a_duration_or_a_duration_error(text):
    try:
        value = duration_parse(text)
    except DurationError as error:
        assert str(error)
    else:
        assert value >= timedelta(0)

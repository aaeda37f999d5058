"""Opening hours: the simple OSM-like syntax, evaluated in Europe/Berlin at a fixed clock."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from fieldcrm.opening_hours import DAY_MIN, parse, state_at

BERLIN = ZoneInfo("Europe/Berlin")
SHOP = "Mo-Fr 08:00-17:00; Sa 09:00-12:00"


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def is_open(hours: str, moment: datetime) -> bool | None:
    state = state_at(hours, moment)
    return None if state is None else state.is_open


# 2026-03-23 is a Monday.
@pytest.mark.parametrize(("moment", "expected"), [
    (berlin(2026, 3, 23, 7, 59), False),
    (berlin(2026, 3, 23, 8, 0), True),
    (berlin(2026, 3, 27, 16, 59), True),
    (berlin(2026, 3, 27, 17, 0), False),
    (berlin(2026, 3, 28, 10, 30), True),
    (berlin(2026, 3, 28, 12, 0), False),
    (berlin(2026, 3, 22, 11, 0), False),  # Sunday: not named, so closed
])
def test_weekday_ranges(moment, expected):
    assert is_open(SHOP, moment) is expected


def test_says_when_it_closes_and_when_it_opens_next():
    assert state_at(SHOP, berlin(2026, 3, 23, 9, 0)).changes_at == berlin(2026, 3, 23, 17, 0)
    closed_saturday = state_at(SHOP, berlin(2026, 3, 28, 13, 0))
    assert not closed_saturday.is_open
    assert closed_saturday.changes_at == berlin(2026, 3, 30, 8, 0)  # Monday: skips Sunday


def test_lunch_break_with_several_spans():
    hours = "Mo-Fr 08:00-12:00,13:00-17:00"
    assert is_open(hours, berlin(2026, 3, 24, 11, 59)) is True
    lunch = state_at(hours, berlin(2026, 3, 24, 12, 30))
    assert not lunch.is_open and lunch.changes_at == berlin(2026, 3, 24, 13, 0)
    assert is_open(hours, berlin(2026, 3, 24, 13, 0)) is True


def test_day_lists_and_mixed_lists():
    assert is_open("Mo,We,Fr 09:00-18:00", berlin(2026, 3, 25, 10, 0)) is True
    assert is_open("Mo,We,Fr 09:00-18:00", berlin(2026, 3, 24, 10, 0)) is False
    assert is_open("Mo-We,Fr 09:00-18:00", berlin(2026, 3, 27, 10, 0)) is True
    assert is_open("Mo-We,Fr 09:00-18:00", berlin(2026, 3, 26, 10, 0)) is False


def test_sunday_and_off():
    hours = "Mo-Su 10:00-20:00; Su off"
    assert is_open(hours, berlin(2026, 3, 28, 11, 0)) is True
    sunday = state_at(hours, berlin(2026, 3, 29, 11, 0))
    assert not sunday.is_open and sunday.changes_at == berlin(2026, 3, 30, 10, 0)
    assert is_open("Su 10:00-14:00", berlin(2026, 3, 29, 11, 0)) is True
    assert is_open("Sa,Su closed", berlin(2026, 3, 29, 11, 0)) is False


def test_later_rule_replaces_earlier_days():
    hours = "Mo-Sa 08:00-18:00; Sa 09:00-12:00"
    assert is_open(hours, berlin(2026, 3, 28, 8, 30)) is False
    assert is_open(hours, berlin(2026, 3, 27, 8, 30)) is True


def test_always_open():
    state = state_at("24/7", berlin(2026, 3, 29, 3, 0))
    assert state.is_open and state.changes_at is None
    assert state_at("Mo-Su 00:00-24:00", berlin(2026, 3, 29, 3, 0)).changes_at is None


def test_past_midnight_and_week_wrap():
    bar = "Fr,Sa 20:00-02:00"
    assert is_open(bar, berlin(2026, 3, 28, 1, 30)) is True  # Saturday night-time, from Friday
    assert is_open(bar, berlin(2026, 3, 29, 1, 30)) is True  # Sunday night-time, from Saturday
    assert is_open(bar, berlin(2026, 3, 30, 1, 30)) is False
    assert state_at(bar, berlin(2026, 3, 27, 23, 0)).changes_at == berlin(2026, 3, 28, 2, 0)
    assert is_open("Su 22:00-03:00", berlin(2026, 3, 23, 2, 0)) is True  # Sunday into Monday
    assert is_open("Fr-Mo 10:00-11:00", berlin(2026, 3, 23, 10, 30)) is True  # wrapping range


def test_summer_time_is_wall_clock_time():
    # The same UTC instant is 07:30 in winter (CET) and 08:30 in summer (CEST).
    winter = datetime(2026, 3, 27, 6, 30, tzinfo=UTC)
    summer = datetime(2026, 3, 30, 6, 30, tzinfo=UTC)
    assert is_open(SHOP, winter) is False
    assert is_open(SHOP, summer) is True
    assert state_at(SHOP, summer).changes_at.utcoffset().total_seconds() == 7200


def test_on_the_night_the_clocks_change():
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 2026-10-25: 03:00 CEST falls back to 02:00 CET.
    night = "Su 01:00-04:00"
    assert is_open(night, datetime(2026, 3, 29, 0, 30, tzinfo=UTC)) is True   # 01:30 CET
    assert is_open(night, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)) is True   # 03:30 CEST
    assert is_open(night, datetime(2026, 3, 29, 2, 30, tzinfo=UTC)) is False  # 04:30 CEST
    assert is_open(night, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) is True  # 02:30 CEST
    assert is_open(night, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) is True  # 02:30 CET, again
    assert is_open(night, datetime(2026, 10, 25, 3, 30, tzinfo=UTC)) is False  # 04:30 CET


def test_public_holiday_rules_are_skipped():
    assert parse("Mo-Fr 08:00-17:00; PH off") == parse("Mo-Fr 08:00-17:00")
    assert parse("Mo-Fr,PH 08:00-17:00") == parse("Mo-Fr 08:00-17:00")


def test_rule_without_days_means_every_day():
    schedule = parse("08:00-20:00")
    assert schedule.days == (((480, 1200),),) * 7
    assert parse("off").days == ((),) * 7


def test_spans_after_midnight_are_kept_on_their_start_day():
    assert parse("Fr 22:00-02:00").days[4] == ((22 * 60, DAY_MIN + 120),)


def test_lenient_about_spaces_and_case():
    assert parse(" mo - fr 08:00 - 17:00 ;  sa 09:00-12:00 ; ") == parse(SHOP)


@pytest.mark.parametrize("text", [
    "", "   ", None, "nach Vereinbarung", "Mo-Fr 8-17", "Mo-Fr 08:00-25:00", "Mo-Fr 08:60-17:00",
    "Mo-Fr 08:00-08:00", "Xy 08:00-17:00", "Mo-Fr 08:00-17:00; irgendwann", "sunrise-sunset",
    "Mo-Fr 08:00-24:30",
])
def test_unknown_text_gives_no_answer(text):
    assert parse(text) is None
    assert state_at(text, berlin(2026, 3, 23, 10, 0)) is None

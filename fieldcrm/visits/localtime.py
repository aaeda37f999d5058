"""The user's calendar: local days as UTC intervals, wall-clock arithmetic across DST.

Times are stored in UTC; "today", "tomorrow 09:00" and "+1 week" mean the user's
local calendar. A local day is the interval from its midnight to the next
midnight, so it lasts 23 or 25 hours when summer time starts or ends.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Europe/Berlin"


def user_zone(user) -> ZoneInfo:
    """The user's time zone (the default one if theirs is unknown)."""
    try:
        return ZoneInfo(user.timezone or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day ``moment`` falls on in ``zone``."""
    return moment.astimezone(zone).date()


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``zone``."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the local ``day`` as UTC instants."""
    return day_start(day, zone), day_start(day + timedelta(days=1), zone)


def local_at(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """``hour`` o'clock on the local ``day``, as a UTC instant."""
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def add_local_days(moment: datetime, days: int, zone: ZoneInfo) -> datetime:
    """``moment`` moved by whole local days, keeping its wall-clock time across DST."""
    local = moment.astimezone(zone)
    return (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=zone).astimezone(UTC)


def as_utc(moment: datetime) -> datetime:
    """An aware datetime converted to UTC."""
    return moment.astimezone(UTC)


def within_reach(moment: datetime, now: datetime, *, years: int = 10) -> bool:
    """True for a time no earlier than 2000 and at most ``years`` ahead of ``now``:
    anything else is a typo (and would overflow on the way to UTC near year 1)."""
    if not 2000 <= moment.year <= now.year + years:
        return False
    return as_utc(moment) <= now + timedelta(days=366 * years)

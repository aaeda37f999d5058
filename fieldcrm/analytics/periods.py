"""Calendar arithmetic for revenue windows: whole months back from a moment."""

import calendar
from datetime import date, datetime


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` moved back by whole calendar months, the day clamped to the month's end
    (31 May minus 3 months is 28 or 29 February), the time of day kept."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def month_starts(today: date, count: int) -> list[date]:
    """The first days of the ``count`` calendar months ending with ``today``'s, oldest first."""
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - count + 1, index + 1)]

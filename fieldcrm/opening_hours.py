"""Opening hours in the simple OSM-like syntax, and "open now?" at a given moment.

Understood: rules separated by ``;`` such as ``Mo-Fr 08:00-17:00; Sa 09:00-12:00``;
days ``Mo Tu We Th Fr Sa Su`` as ranges (``Mo-Fr``, also wrapping ``Fr-Mo``) and
lists (``Mo,We,Fr``, ``Mo-We,Fr``); several spans a day (``08:00-12:00,13:00-17:00``);
spans past midnight (``Fr 22:00-02:00``) and ``24:00`` as an end; ``24/7``; ``off``
(or ``closed``); a rule without days applies to every day. As in OSM, a later rule
replaces what earlier rules said about the days it names. Public-holiday rules
(``PH ...``) are skipped, because the app does not know the holidays. Anything else
makes the whole text unknown, and unknown hours show no badge rather than a wrong one.

Times are wall-clock times in the customer's zone (Europe/Berlin), so summer time
changes nothing about "Mo-Fr 08:00-17:00".
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

CUSTOMER_ZONE = ZoneInfo("Europe/Berlin")
DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
DAY_MIN = 24 * 60
WEEK_MIN = 7 * DAY_MIN

_DAY = r"(?:mo|tu|we|th|fr|sa|su|ph)"
_DAY_SELECTOR = re.compile(rf"^({_DAY}(?:\s*-\s*{_DAY})?(?:\s*,\s*{_DAY}(?:\s*-\s*{_DAY})?)*)\b\s*(.*)$",
                           re.IGNORECASE)
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Schedule:
    """Opening spans per weekday (Monday first), in minutes after that day's midnight.

    A span may end after 1440 when it runs past midnight.
    """

    days: tuple[tuple[tuple[int, int], ...], ...]


@dataclass(frozen=True)
class OpenState:
    """Open or closed at a moment, and when that changes (None: never, e.g. 24/7)."""

    is_open: bool
    changes_at: datetime | None


def parse(text: str | None) -> Schedule | None:
    """The schedule described by ``text``, or None when it is empty or not understood."""
    rules = [rule.strip() for rule in (text or "").split(";")]
    rules = [rule for rule in rules if rule]
    if not rules:
        return None
    days: list[tuple[tuple[int, int], ...]] = [()] * 7
    for rule in rules:
        parsed = _parse_rule(rule)
        if parsed is None:
            return None
        weekdays, spans = parsed
        for day in weekdays:
            days[day] = spans
    return Schedule(tuple(days))


def _parse_rule(rule: str) -> tuple[list[int], tuple[tuple[int, int], ...]] | None:
    if rule == "24/7":
        return list(range(7)), ((0, DAY_MIN),)
    selector = _DAY_SELECTOR.match(rule)
    if selector:
        weekdays = _parse_days(selector.group(1))
        rest = selector.group(2).strip()
    else:
        weekdays, rest = list(range(7)), rule
    if rest.lower() in ("off", "closed"):
        return weekdays, ()
    if rest == "24/7":
        return weekdays, ((0, DAY_MIN),)
    spans = []
    for part in rest.split(","):
        span = _parse_span(part.strip())
        if span is None:
            return None
        spans.append(span)
    return weekdays, tuple(sorted(spans))


def _parse_days(text: str) -> list[int]:
    """Weekday numbers (Monday 0) of "Mo-We,Fr"; public-holiday parts are left out."""
    weekdays: list[int] = []
    for part in text.split(","):
        ends = [end.strip().lower() for end in part.split("-")]
        if "ph" in ends:
            continue
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        weekdays.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
    return weekdays


def _parse_span(text: str) -> tuple[int, int] | None:
    match = _SPAN.match(text)
    if not match:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if m1 > 59 or m2 > 59 or h1 > 23 or h2 > 24 or (h2 == 24 and m2):
        return None
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end == start:
        return None
    return (start, end) if end > start else (start, end + DAY_MIN)


def state_at(hours: str | Schedule | None, now: datetime, zone: ZoneInfo = CUSTOMER_ZONE) -> OpenState | None:
    """Whether the customer is open at ``now`` (an aware time), or None when hours are unknown."""
    schedule = parse(hours) if not isinstance(hours, Schedule) else hours
    if schedule is None:
        return None
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    weekday_start = local.weekday() * DAY_MIN
    minute = weekday_start + local.hour * 60 + local.minute + local.second / 60
    spans = _week_spans(schedule)

    def wall_clock(week_minute: float) -> datetime:
        return (midnight + timedelta(minutes=week_minute - weekday_start)).replace(tzinfo=zone)

    for start, end in spans:
        if start <= minute < end:
            return OpenState(True, None if end - start >= WEEK_MIN else wall_clock(end))
    upcoming = [start for start, _ in spans if start > minute]
    return OpenState(False, wall_clock(min(upcoming)) if upcoming else None)


def _week_spans(schedule: Schedule) -> list[tuple[int, int]]:
    """Spans on a timeline of minutes from Monday 00:00, repeated over three weeks, joined."""
    spans = sorted(
        (week + day * DAY_MIN + start, week + day * DAY_MIN + end)
        for week in (-WEEK_MIN, 0, WEEK_MIN)
        for day, day_spans in enumerate(schedule.days)
        for start, end in day_spans
    )
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined

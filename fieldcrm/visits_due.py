"""Is a customer due for a visit? From the visit interval and the last visit."""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class VisitDue:
    """A due visit: ``overdue_days`` is 0 on the day it falls due, None if never visited."""

    overdue_days: int | None


def visit_due(interval_days: int | None, last_visited_at: datetime | None,
              now: datetime) -> VisitDue | None:
    """The due visit at ``now``, or None when no interval is set or the visit is not due yet.

    Due when ``last_visited_at + interval_days <= now``, or when the customer has an
    interval but was never visited.
    """
    if not interval_days:
        return None
    if last_visited_at is None:
        return VisitDue(None)
    due_at = last_visited_at + timedelta(days=interval_days)
    if due_at > now:
        return None
    return VisitDue((now - due_at).days)

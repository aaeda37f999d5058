"""Activity entries in a customer's shared history (visits, notes, orders, follow-ups).

Field changes of customers and contacts are recorded by fieldcrm.versioning at
flush time; activities are recorded here by the operations that create them,
in the same transaction.
"""

import uuid
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .customers import GEOCODE_STATUS_LABELS
from .extensions import db
from .formatting import FIELD_LABELS, STATUS_LABELS, day, when
from .models import History, Territory, User, utcnow
from .versioning import new_row
from .visits.labels import CHANNEL_LABELS, OUTCOME_LABELS

ACTIVITY_KINDS = ("visit", "note", "order", "followup")
# Fields a change entry may name beyond those of the forms (kept by jobs and visits).
HISTORY_FIELD_LABELS = FIELD_LABELS | {
    "geocode_status": _l("Location"), "geocoded_at": _l("Located on"),
    "last_visited_at": _l("Last visit"), "abc_manual": _l("ABC class set by hand"),
    "revenue_12m": _l("Revenue (12 months)"), "risk_reason": _l("Risk"),
}
VALUE_LABELS = {"status": STATUS_LABELS, "geocode_status": GEOCODE_STATUS_LABELS,
                "outcome": OUTCOME_LABELS, "channel": CHANNEL_LABELS}
YES_NO_FIELDS = {"marketing_consent", "abc_manual", "active", "deleted"}
TIME_FIELDS = {"marketing_consent_at", "geocoded_at", "last_visited_at"}
DATE_FIELDS = {"birthday"}
NAMED_ROWS = {"owner_id": User, "territory_id": Territory}


def field_label(field: str | None) -> str:
    """The name of a changed field in the user's language (the raw name if it has none)."""
    return str(HISTORY_FIELD_LABELS.get(field, field or ""))


def value_label(text: str | None, field: str | None) -> str:
    """A value as history stores it (see versioning.history_text), as the user reads it:
    enum values as their labels, yes/no, times in the user's zone, owners and territories
    by name. Empty for no value; text it cannot read is shown as is."""
    if not text:
        return ""
    if field in VALUE_LABELS:
        return str(VALUE_LABELS[field].get(text, text))
    if field in YES_NO_FIELDS and text in ("true", "false"):
        return _("Yes") if text == "true" else _("No")
    try:
        if field in TIME_FIELDS:
            return when(datetime.fromisoformat(text), "short")
        if field in DATE_FIELDS:
            return day(date.fromisoformat(text))
        if field in NAMED_ROWS:
            row = db.session.get(NAMED_ROWS[field], uuid.UUID(text))
            return row.name if row is not None else text
    except ValueError:
        pass
    return text


def record_activity(customer_id: uuid.UUID, kind: str, ref_id: uuid.UUID, *,
                    user_id: uuid.UUID | None, summary: str | None = None,
                    field: str | None = None, old: str | None = None) -> History:
    """Add one history entry pointing at the activity row ``ref_id``.

    ``field`` names what happened to it (e.g. "checked_in", "submitted", "done"),
    ``summary`` is a short text shown in the timeline (the note's first line,
    the order total, the follow-up title).
    """
    return new_row(History, customer_id=customer_id, at=utcnow(), user_id=user_id, kind=kind,
                   entity=kind, entity_id=ref_id, ref_id=ref_id, field=field, old=old,
                   new=summary)

"""Activity entries in a customer's shared history (visits, notes, orders, follow-ups).

Field changes of customers and contacts are recorded by fieldcrm.versioning at
flush time; activities are recorded here by the operations that create them,
in the same transaction.
"""

import uuid

from .extensions import db
from .models import History, utcnow

ACTIVITY_KINDS = ("visit", "note", "order", "followup")


def record_activity(customer_id: uuid.UUID, kind: str, ref_id: uuid.UUID, *,
                    user_id: uuid.UUID | None, summary: str | None = None,
                    field: str | None = None, old: str | None = None) -> History:
    """Add one history entry pointing at the activity row ``ref_id``.

    ``field`` names what happened to it (e.g. "checked_in", "submitted", "done"),
    ``summary`` is a short text shown in the timeline (the note's first line,
    the order total, the follow-up title).
    """
    entry = History(customer_id=customer_id, at=utcnow(), user_id=user_id, kind=kind,
                    entity=kind, entity_id=ref_id, ref_id=ref_id, field=field, old=old,
                    new=summary)
    db.session.add(entry)
    return entry

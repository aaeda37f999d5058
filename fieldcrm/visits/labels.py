"""Translated labels of visit outcomes and note channels, for forms and the timeline."""

from flask_babel import lazy_gettext as _l

OUTCOME_LABELS = {
    "order_taken": _l("Order taken"),
    "followup_agreed": _l("Follow-up agreed"),
    "no_decision": _l("No decision"),
    "not_met": _l("Customer not met"),
    "other": _l("Other"),
}
CHANNEL_LABELS = {
    "visit": _l("Visit"),
    "phone": _l("Phone"),
    "email": _l("Email"),
    "letter": _l("Letter"),
    "other": _l("Other"),
}

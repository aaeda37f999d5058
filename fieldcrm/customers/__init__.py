"""Customers and their contacts: validation, writes (operations) and reads (queries)."""

from flask_babel import lazy_gettext as _l

GEOCODE_STATUS_LABELS = {
    "none": _l("Not located"), "pending": _l("Locating address…"),
    "ok": _l("Located from the address"), "failed": _l("Address not found"),
    "manual": _l("Pin set by hand"),
}

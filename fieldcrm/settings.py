"""Values an admin sets at run time (kept in the ``setting`` table), with defaults."""

from decimal import Decimal

from .extensions import db
from .models import Setting

DEFAULTS = {
    "max_discount_pct": 15,
    "abc_thresholds_pct": [80, 95],
    "visit_interval_days": {"A": 14, "B": 30, "C": 90},
    "checkin_max_distance_m": 500,
    "at_risk_no_order_days": 180,
    "at_risk_revenue_drop_pct": 50,
}


def get_setting(key: str):
    """The admin's value for ``key``, or the default; read once per transaction (a sync
    push checks hundreds of visits against the same setting; ``extensions.TRANSACTION_INFO_KEYS``)."""
    known = db.session.info.setdefault("settings", {})
    if key not in known:
        row = db.session.get(Setting, key)
        known[key] = row.value if row is not None else DEFAULTS[key]
    return known[key]


def set_setting(key: str, value) -> None:
    """Store a value (JSON-serialisable); the caller commits."""
    if key not in DEFAULTS:
        raise KeyError(key)
    if isinstance(value, Decimal):
        value = str(value)
    db.session.info.pop("settings", None)
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value

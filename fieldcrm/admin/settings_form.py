"""The admin's settings form: discount limit, ABC thresholds, visit cadence, check-in
distance and the at-risk signals, flattened to one field each and validated at once."""

from decimal import Decimal

from flask_babel import lazy_gettext as _l

from ..settings import get_setting, set_setting
from ..validation import Field, clean

SETTINGS_FIELDS = {
    "max_discount_pct": Field("decimal", required=True, minimum=0, maximum=100),
    "abc_a_pct": Field("int", required=True, minimum=1, maximum=99),
    "abc_b_pct": Field("int", required=True, minimum=2, maximum=100),
    "interval_a": Field("int", required=True, minimum=1, maximum=3650),
    "interval_b": Field("int", required=True, minimum=1, maximum=3650),
    "interval_c": Field("int", required=True, minimum=1, maximum=3650),
    "checkin_max_distance_m": Field("int", required=True, minimum=10, maximum=100_000),
    "at_risk_no_order_days": Field("int", required=True, minimum=7, maximum=3650),
    "at_risk_revenue_drop_pct": Field("int", required=True, minimum=1, maximum=100),
}
# Changing these changes classes or flags: the analytics run is queued at once.
ANALYTICS_KEYS = {"abc_thresholds_pct", "at_risk_no_order_days", "at_risk_revenue_drop_pct"}


def current_values() -> dict:
    """The stored settings as form values."""
    a_pct, b_pct = get_setting("abc_thresholds_pct")
    intervals = get_setting("visit_interval_days")
    return {
        "max_discount_pct": Decimal(str(get_setting("max_discount_pct"))).normalize(),
        "abc_a_pct": a_pct, "abc_b_pct": b_pct,
        "interval_a": intervals["A"], "interval_b": intervals["B"], "interval_c": intervals["C"],
        "checkin_max_distance_m": get_setting("checkin_max_distance_m"),
        "at_risk_no_order_days": get_setting("at_risk_no_order_days"),
        "at_risk_revenue_drop_pct": get_setting("at_risk_revenue_drop_pct"),
    }


def _check(values: dict) -> dict:
    a_pct, b_pct = values.get("abc_a_pct"), values.get("abc_b_pct")
    if a_pct is not None and b_pct is not None and b_pct <= a_pct:
        return {"abc_b_pct": _l("Must be more than the A threshold (%(a)s %%).", a=a_pct)}
    return {}


def save_settings(data: dict, *, form: bool = False) -> set[str]:
    """Validate every field, store the settings, and return the keys whose value changed.

    Raises ValidationError with every problem at once; nothing is stored then.
    """
    values = clean(SETTINGS_FIELDS, data, partial=False, form=form, check=_check)
    discount = values["max_discount_pct"].normalize()
    new = {
        "max_discount_pct": int(discount) if discount == discount.to_integral() else str(discount),
        "abc_thresholds_pct": [values["abc_a_pct"], values["abc_b_pct"]],
        "visit_interval_days": {"A": values["interval_a"], "B": values["interval_b"],
                                "C": values["interval_c"]},
        "checkin_max_distance_m": values["checkin_max_distance_m"],
        "at_risk_no_order_days": values["at_risk_no_order_days"],
        "at_risk_revenue_drop_pct": values["at_risk_revenue_drop_pct"],
    }
    changed = {key for key, value in new.items() if get_setting(key) != value}
    for key in changed:
        set_setting(key, new[key])
    return changed

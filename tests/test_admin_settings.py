"""The admin's settings page: every threshold validated with a message per field, then stored."""

import re
from decimal import Decimal

import sqlalchemy as sa

from fieldcrm.analytics.nightly import JOB_KIND
from fieldcrm.models import Job
from fieldcrm.orders.operations import max_discount_pct
from fieldcrm.settings import DEFAULTS, get_setting

GOOD = {"max_discount_pct": "12,5", "abc_a_pct": "70", "abc_b_pct": "90", "interval_a": "7",
        "interval_b": "21", "interval_c": "60", "checkin_max_distance_m": "300",
        "at_risk_no_order_days": "120", "at_risk_revenue_drop_pct": "40"}


def test_the_page_shows_the_current_values(client, world):
    client.login("admin@example.com")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="abc_a_pct" type="number" value="80"' in page
    assert 'name="interval_c" type="number" value="90"' in page
    assert 'name="max_discount_pct" type="text" value="15"' in page
    assert 'aria-current="page">Settings' in page


def test_saving_stores_every_setting_and_queues_a_recompute(client, world, db):
    client.login("admin@example.com")
    response = client.form("/admin/settings", GOOD)
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/settings")
    assert get_setting("abc_thresholds_pct") == [70, 90]
    assert get_setting("visit_interval_days") == {"A": 7, "B": 21, "C": 60}
    assert get_setting("checkin_max_distance_m") == 300
    assert (get_setting("at_risk_no_order_days"), get_setting("at_risk_revenue_drop_pct")) == (120, 40)
    assert max_discount_pct() == Decimal("12.5")
    jobs = db.session.scalars(sa.select(Job).where(Job.kind == JOB_KIND)).all()
    assert [j.payload for j in jobs] == [{"nightly": False}]
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "recomputed" in page and 'value="12.5"' in page


def test_saving_unchanged_thresholds_queues_nothing(client, world, db):
    client.login("admin@example.com")
    values = {"max_discount_pct": "20", "abc_a_pct": "80", "abc_b_pct": "95", "interval_a": "14",
              "interval_b": "30", "interval_c": "90", "checkin_max_distance_m": "500",
              "at_risk_no_order_days": "180", "at_risk_revenue_drop_pct": "50"}
    assert client.form("/admin/settings", values).status_code == 303
    assert get_setting("max_discount_pct") == 20
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_every_bad_field_gets_its_message_and_nothing_is_stored(client, world, db):
    client.login("admin@example.com")
    bad = GOOD | {"max_discount_pct": "101", "abc_a_pct": "80", "abc_b_pct": "70",
                  "interval_a": "0", "interval_b": "zwei", "interval_c": "",
                  "checkin_max_distance_m": "1e9", "at_risk_no_order_days": "3.5",
                  "at_risk_revenue_drop_pct": "-1"}
    response = client.form("/admin/settings", bad)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for name, message in (("max_discount_pct", "Must be between 0 and 100"),
                          ("abc_b_pct", "Must be more than the A threshold (80 %)"),
                          ("interval_a", "Must be between 1 and 3650"),
                          ("interval_b", "Must be a number"),
                          ("interval_c", "This field is required"),
                          ("checkin_max_distance_m", "Must be"),
                          ("at_risk_no_order_days", "Must be a number"),
                          ("at_risk_revenue_drop_pct", "Must be between 1 and 100")):
        shown = re.search(rf'id="e-{name}">([^<]*)<', page)
        assert shown and shown.group(1).startswith(message), (name, shown and shown.group(1))
    assert 'value="zwei"' in page
    for key, value in DEFAULTS.items():
        assert get_setting(key) == value
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0

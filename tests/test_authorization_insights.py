"""Every route of the analytical CRM (due list, visit preparation, admin settings) × every
role → the expected status (see tests/authz.py)."""

import pytest
from authz import (
    ADMIN_ONLY,
    ADMIN_WRITE,
    ANY_USER,
    IN_SCOPE,
    cases,
    check_junk,
    check_route,
    junk_cases,
)


def settings_form(w):
    return {"max_discount_pct": "15", "abc_a_pct": "80", "abc_b_pct": "95", "interval_a": "14",
            "interval_b": "30", "interval_c": "90", "checkin_max_distance_m": "500",
            "at_risk_no_order_days": "180", "at_risk_revenue_drop_pct": "50"}


MATRIX = [
    ("insights.due", "GET", lambda w: "/due", None, ANY_USER),
    ("insights.prepare", "GET", lambda w: f"/customers/{w.customer.id}/prepare", None, IN_SCOPE),
    ("admin.settings", "GET", lambda w: "/admin/settings", None, ADMIN_ONLY),
    ("admin.save_settings", "POST", lambda w: "/admin/settings", settings_form, ADMIN_WRITE),
]
ADMIN_ENDPOINTS = {"admin.settings", "admin.save_settings"}


@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role", "expected"), cases(MATRIX))
def test_route_role_status(client, cast, endpoint, method, path, form, role, expected):
    check_route(client, cast, method, path, form, role, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role"), junk_cases(MATRIX))
def test_junk_is_never_a_500(client, cast, endpoint, method, path, form, role):
    check_junk(client, cast, method, path, form, role)


def test_matrix_covers_every_insights_route(app):
    """A new route of the insights blueprint or the settings page without a row here fails."""
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}
              if rule.endpoint.split(".")[0] == "insights" or rule.endpoint in ADMIN_ENDPOINTS}
    assert routes == {(endpoint, method) for endpoint, method, *_ in MATRIX}


def test_unknown_or_foreign_customers_are_404(client, cast):
    client.login("rep1@example.com")
    for path in ("/customers/nope/prepare", "/customers/00000000-0000-0000-0000-000000000000/prepare",
                 f"/customers/{cast.other_customer.id}/prepare"):
        assert client.get(path).status_code == 404, path

"""Every foundation route × every role → the expected status (see tests/authz.py)."""

import pytest
from authz import (
    ADMIN_ONLY,
    ADMIN_WRITE,
    ANY_USER,
    EMAILS,
    IN_SCOPE,
    IN_SCOPE_WRITE,
    ROLES,
    all_rows,
    cases,
    check_junk,
    check_route,
    junk_cases,
)


def customer_form(w, **extra):
    return {"name": "Neu GmbH", "postal_code": "20095", "city": "Hamburg", "country": "DE",
            "status": "lead", **extra}


def territory_form(w):
    return {"name": "West", "manager_id": str(w.manager.id), "rep_ids": [str(w.rep.id)]}


def user_form(w):
    return {"email": "new@example.com", "name": "New Person", "role": "rep", "timezone": "Europe/Berlin",
            "password": "long-enough-password"}


def product_form(w):
    return {"sku": "NEW-1", "name": "Neu", "unit": "Stk", "net_price": "9,99", "vat_rate": "19",
            "active": "on"}


# (endpoint, method, path builder, form builder or None, expected status by role)
MATRIX = [
    ("main.index", "GET", lambda w: "/", None, dict.fromkeys(ROLES, 302)),
    ("main.health", "GET", lambda w: "/healthz", None, dict.fromkeys(ROLES, 200)),
    ("auth.login", "GET", lambda w: "/login", None, {"anonymous": 200} | dict.fromkeys(ROLES[1:], 302)),
    ("auth.login", "POST", lambda w: "/login", lambda w: {"email": "nobody@example.com", "password": "x"},
     {"anonymous": 401} | dict.fromkeys(ROLES[1:], 302)),
    ("auth.logout", "POST", lambda w: "/logout", lambda w: {}, dict.fromkeys(ROLES, 302)),
    ("account.settings", "GET", lambda w: "/account", None, ANY_USER),
    ("account.settings", "POST", lambda w: "/account", lambda w: {"name": "Renamed", "timezone": "Europe/Berlin"},
     {"anonymous": 302, "rep": 302, "other_rep": 302, "manager": 302, "admin": 302}),
    ("customers.index", "GET", lambda w: "/customers", None, ANY_USER),
    ("customers.new", "GET", lambda w: "/customers/new", None, ANY_USER),
    ("customers.create", "POST", lambda w: "/customers", lambda w: customer_form(w, territory_id=str(w.north.id)),
     {"anonymous": 302, "rep": 303, "other_rep": 422, "manager": 303, "admin": 303}),
    ("customers.show", "GET", lambda w: f"/customers/{w.customer.id}", None, IN_SCOPE),
    ("customers.history", "GET", lambda w: f"/customers/{w.customer.id}/history", None, IN_SCOPE),
    ("customers.working", "GET", lambda w: f"/customers/{w.customer.id}/working", None, IN_SCOPE),
    ("customers.edit", "GET", lambda w: f"/customers/{w.customer.id}/edit", None, IN_SCOPE),
    ("customers.update", "POST", lambda w: f"/customers/{w.customer.id}/edit", customer_form, IN_SCOPE_WRITE),
    ("customers.move_pin", "POST", lambda w: f"/customers/{w.customer.id}/location",
     lambda w: {"lat": "53.56", "lon": "10.01"}, IN_SCOPE),
    ("customers.delete", "POST", lambda w: f"/customers/{w.customer.id}/delete", lambda w: {}, IN_SCOPE_WRITE),
    ("customers.new_contact", "GET", lambda w: f"/customers/{w.customer.id}/contacts/new", None, IN_SCOPE),
    ("customers.create_contact", "POST", lambda w: f"/customers/{w.customer.id}/contacts",
     lambda w: {"name": "Neue Person"}, IN_SCOPE_WRITE),
    ("customers.edit_contact", "GET", lambda w: f"/contacts/{w.contact.id}/edit", None, IN_SCOPE),
    ("customers.update_contact", "POST", lambda w: f"/contacts/{w.contact.id}/edit",
     lambda w: {"name": "Anna Schmidt-Neu"}, IN_SCOPE_WRITE),
    ("customers.delete_contact", "POST", lambda w: f"/contacts/{w.contact.id}/delete", lambda w: {},
     IN_SCOPE_WRITE),
    ("admin.users", "GET", lambda w: "/admin/users", None, ADMIN_ONLY),
    ("admin.new_user", "GET", lambda w: "/admin/users/new", None, ADMIN_ONLY),
    ("admin.create_user", "POST", lambda w: "/admin/users", user_form, ADMIN_WRITE),
    ("admin.edit_user", "GET", lambda w: f"/admin/users/{w.rep.id}", None, ADMIN_ONLY),
    ("admin.update_user", "POST", lambda w: f"/admin/users/{w.other_rep.id}",
     lambda w: {"email": "rep2@example.com", "name": "Otto", "role": "rep", "timezone": "Europe/Berlin"},
     ADMIN_WRITE),
    ("admin.set_active", "POST", lambda w: f"/admin/users/{w.other_rep.id}/active", lambda w: {"active": "0"},
     ADMIN_WRITE),
    ("admin.reset_password", "POST", lambda w: f"/admin/users/{w.other_rep.id}/reset-password",
     lambda w: {}, ADMIN_ONLY),
    ("admin.territories", "GET", lambda w: "/admin/territories", None, ADMIN_ONLY),
    ("admin.new_territory", "GET", lambda w: "/admin/territories/new", None, ADMIN_ONLY),
    ("admin.create_territory", "POST", lambda w: "/admin/territories", territory_form, ADMIN_WRITE),
    ("admin.edit_territory", "GET", lambda w: f"/admin/territories/{w.north.id}", None, ADMIN_ONLY),
    ("admin.update_territory", "POST", lambda w: f"/admin/territories/{w.north.id}", territory_form,
     ADMIN_WRITE),
    ("admin.products", "GET", lambda w: "/admin/products", None, ADMIN_ONLY),
    ("admin.new_product", "GET", lambda w: "/admin/products/new", None, ADMIN_ONLY),
    ("admin.create_product", "POST", lambda w: "/admin/products", product_form, ADMIN_WRITE),
    ("admin.edit_product", "GET", lambda w: f"/admin/products/{w.product.id}", None, ADMIN_ONLY),
    ("admin.update_product", "POST", lambda w: f"/admin/products/{w.product.id}", product_form,
     ADMIN_WRITE),
]

CASES = [pytest.param(endpoint, method, path, form, role, expected[role],
                      id=f"{endpoint}-{method}-{role}")
         for endpoint, method, path, form, expected in MATRIX for role in ROLES]


@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role", "expected"), cases(MATRIX))
def test_route_role_status(client, cast, endpoint, method, path, form, role, expected):
    check_route(client, cast, method, path, form, role, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role"), junk_cases(MATRIX))
def test_junk_is_never_a_500(client, cast, endpoint, method, path, form, role):
    check_junk(client, cast, method, path, form, role)


def test_matrix_covers_every_route(app):
    """A route without a row in some tests/test_authorization_*.py MATRIX fails this test.

    The JSON API (api.*, sync.*) has its own matrix in tests/test_api.py.
    """
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}
              if rule.endpoint != "static" and not rule.endpoint.startswith(("api.", "sync."))}
    covered = {(endpoint, method) for endpoint, method, *_ in all_rows()}
    assert sorted(routes - covered) == []


def test_unknown_ids_are_404(client, cast):
    client.login(EMAILS["admin"])
    for path in ("/customers/not-a-uuid", "/customers/00000000-0000-0000-0000-000000000000",
                 "/contacts/xyz/edit", "/admin/users/123", "/admin/products/0"):
        assert client.get(path).status_code == 404, path


def test_wrong_method_is_405(client, cast):
    client.login(EMAILS["rep"])
    response = client.http.delete(f"/customers/{cast.customer.id}")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"] or "GET" in response.headers["Allow"]


def test_missing_csrf_is_400_with_message(client, cast):
    client.login(EMAILS["rep"])
    response = client.http.post(f"/customers/{cast.customer.id}/edit", data=customer_form(cast))
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)

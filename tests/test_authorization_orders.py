"""Every order route × every role → the expected status (see tests/authz.py).

The rep took both orders at their customer; the other rep works another
territory (404), the manager manages the customer's territory.
"""

import pytest
from authz import (
    ANY_USER,
    EMAILS,
    IN_SCOPE,
    IN_SCOPE_WRITE,
    cases,
    check_junk,
    check_route,
    junk_cases,
)

from fieldcrm.orders import operations


def line_form(w, **extra):
    return {"line_key": ["k0"], "product_id": [str(w.product.id)], "quantity": ["2"],
            "line_discount_pct": [""], "discount_pct": "", "action": "draft", **extra}


# (endpoint, method, path builder, form builder or None, expected status by role)
MATRIX = [
    ("orders.index", "GET", lambda w: "/orders", None, ANY_USER),
    ("orders.products", "GET", lambda w: "/orders/products?q=Kaffee", None, ANY_USER),
    ("orders.line", "GET", lambda w: f"/orders/line?product_id={w.product.id}", None, ANY_USER),
    ("orders.new", "GET", lambda w: f"/customers/{w.customer.id}/orders/new", None, IN_SCOPE),
    ("orders.create", "POST", lambda w: f"/customers/{w.customer.id}/orders", line_form, IN_SCOPE_WRITE),
    ("orders.preview", "POST", lambda w: f"/customers/{w.customer.id}/orders/preview", line_form,
     IN_SCOPE),
    ("orders.show", "GET", lambda w: f"/orders/{w.draft.id}", None, IN_SCOPE),
    ("orders.print_view", "GET", lambda w: f"/orders/{w.submitted.id}/print", None, IN_SCOPE),
    ("orders.edit", "GET", lambda w: f"/orders/{w.draft.id}/edit", None, IN_SCOPE),
    ("orders.update", "POST", lambda w: f"/orders/{w.draft.id}/edit", line_form, IN_SCOPE_WRITE),
    ("orders.submit", "POST", lambda w: f"/orders/{w.draft.id}/submit", lambda w: {}, IN_SCOPE_WRITE),
    ("orders.cancel", "POST", lambda w: f"/orders/{w.submitted.id}/cancel", lambda w: {},
     IN_SCOPE_WRITE),
    ("orders.confirm", "POST", lambda w: f"/orders/{w.submitted.id}/confirm", lambda w: {},
     IN_SCOPE_WRITE | {"rep": 403}),
]


@pytest.fixture
def order_cast(app, db, cast):
    """The standard cast with a draft and a submitted order of the rep at their customer."""
    with app.test_request_context():
        lines = [{"product_id": str(cast.product.id), "quantity": "1"}]
        cast.draft = operations.create_order(cast.rep, {"customer_id": str(cast.customer.id),
                                                        "lines": lines})
        cast.submitted = operations.create_order(cast.rep, {"customer_id": str(cast.customer.id),
                                                            "lines": lines, "status": "submitted"})
        db.session.commit()
    return cast


@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role", "expected"), cases(MATRIX))
def test_route_role_status(client, order_cast, endpoint, method, path, form, role, expected):
    check_route(client, order_cast, method, path, form, role, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role"), junk_cases(MATRIX))
def test_junk_is_never_a_500(client, order_cast, endpoint, method, path, form, role):
    check_junk(client, order_cast, method, path, form, role)


def test_matrix_covers_every_order_route(app):
    """A new order route without a row in MATRIX fails here."""
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"} if rule.endpoint.startswith("orders.")}
    assert routes == {(endpoint, method) for endpoint, method, *_ in MATRIX}


def test_orders_out_of_scope_are_404_everywhere(make_client, order_cast):
    """The other rep cannot reach an order of another territory by any route; unknown ids are 404."""
    client = make_client()
    client.login(EMAILS["other_rep"])
    order = order_cast.draft
    for path in (f"/orders/{order.id}", f"/orders/{order.id}/edit", f"/orders/{order.id}/print"):
        assert client.get(path).status_code == 404, path
    for action in ("edit", "submit", "confirm", "cancel"):
        assert client.form(f"/orders/{order.id}/{action}", {}).status_code == 404, action
    client = make_client()
    client.login(EMAILS["admin"])
    for path in ("/orders/not-a-uuid", "/orders/00000000-0000-0000-0000-000000000000",
                 "/orders/line?product_id=00000000-0000-0000-0000-000000000000", "/orders/line"):
        assert client.get(path).status_code == 404, path


def test_a_deleted_customer_hides_its_orders(client, db, order_cast):
    order_cast.customer.deleted = True
    db.session.commit()
    client.login(EMAILS["admin"])
    assert client.get(f"/orders/{order_cast.draft.id}").status_code == 404
    assert f"/orders/{order_cast.draft.id}" not in client.get("/orders").get_data(as_text=True)

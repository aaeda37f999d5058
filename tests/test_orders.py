"""Orders: taking an order at the customer, bad input, the state machine, versions, history."""

import re
import uuid
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from fieldcrm.models import History, Order, OrderLine
from fieldcrm.orders import operations
from fieldcrm.orders.operations import OrderForbidden, OrderLocked
from fieldcrm.settings import set_setting
from fieldcrm.validation import ValidationError

SUBMITTED_MESSAGE = "This order was submitted and can no longer be changed."


@pytest.fixture
def shop(app, world, make_product):
    """The standard cast plus a small catalogue with both VAT rates and an inactive product.

    The test body runs in a request context (English), as operations do, so their
    messages can be read; the client's requests each get their own context.
    """
    world.coffee = make_product(sku="KAF-1000", name="Kaffee Crema 1 kg", unit="kg",
                                net_price=D("12.50"), vat_rate=D("7.00"))
    world.cups = make_product(sku="TAS-6", name="Tassen 6er", unit="Pkg",
                              net_price=D("3.33"), vat_rate=D("19.00"))
    world.milk = make_product(sku="MIL-25", name="Milchpulver", unit="kg",
                              net_price=D("0.99"), vat_rate=D("7.00"))
    world.old = make_product(sku="OLD-1", name="Auslaufmodell", net_price=D("5.00"),
                             vat_rate=D("19.00"), active=False)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield world


def order_form(*lines, discount="", action="draft", **extra) -> dict:
    """The order form as the browser posts it: one group of repeated fields per line."""
    data = {"line_key": [], "product_id": [], "quantity": [], "line_discount_pct": [],
            "discount_pct": discount, "action": action, **extra}
    for index, (product_id, quantity, line_discount) in enumerate(lines):
        data["line_key"].append(f"k{index}")
        data["product_id"].append(str(product_id))
        data["quantity"].append(quantity)
        data["line_discount_pct"].append(line_discount)
    return data


def example_form(w, **kwargs) -> dict:
    """The worked example of fieldcrm/orders/pricing.py: gross 62.17."""
    return order_form((w.coffee.id, "3", "10"), (w.cups.id, "7", ""), (w.milk.id, "1,5", ""),
                      discount="5", **kwargs)


def make_order(db, w, *, status="draft", user=None, lines=None, discount="0") -> Order:
    user = user or w.rep
    order = operations.create_order(user, {
        "customer_id": str(w.customer.id), "discount_pct": discount,
        "lines": lines if lines is not None else [{"product_id": str(w.coffee.id), "quantity": "2"}],
    })
    if status in ("submitted", "confirmed"):
        operations.submit_order(user, order)
    if status == "confirmed":
        operations.confirm_order(w.manager, order)
    if status == "cancelled":
        operations.cancel_order(user, order)
    db.session.commit()
    return order


def counts(db) -> tuple[int, int, int]:
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                 for model in (Order, OrderLine, History))


def order_history(db, order) -> list[tuple[str, str]]:
    return [(h.field, h.new) for h in db.session.scalars(
        sa.select(History).where(History.ref_id == order.id).order_by(History.version))]


def only_order(db) -> Order:
    db.session.expire_all()
    return db.session.scalars(sa.select(Order)).one()


# Taking an order

def test_rep_takes_an_order_priced_from_the_catalogue(client, db, shop):
    client.login("rep1@example.com")
    page = client.get(f"/customers/{shop.customer.id}/orders/new")
    assert page.status_code == 200
    assert 'hx-get="/orders/products"' in page.get_data(as_text=True)

    response = client.form(f"/customers/{shop.customer.id}/orders", example_form(shop))
    assert response.status_code == 303
    order = only_order(db)
    assert response.headers["Location"].endswith(f"/orders/{order.id}")
    assert (order.status, order.user_id, order.customer_id) == ("draft", shop.rep.id, shop.customer.id)
    assert order.discount_pct == D("5")
    assert (order.net_total, order.vat_total, order.gross_total) == (D("55.62"), D("6.55"), D("62.17"))
    assert [(line.position, line.product_id, line.quantity, line.unit_price, line.discount_pct,
             line.vat_rate, line.net, line.vat) for line in order.lines] == [
        (1, shop.coffee.id, D("3"), D("12.50"), D("10"), D("7"), D("32.06"), D("2.24")),
        (2, shop.cups.id, D("7"), D("3.33"), D("0"), D("19"), D("22.14"), D("4.21")),
        (3, shop.milk.id, D("1.5"), D("0.99"), D("0"), D("7"), D("1.42"), D("0.10")),
    ]
    assert sum(line.net for line in order.lines) == order.net_total
    assert order_history(db, order) == [("created", "62.17")]


def test_save_and_submit_in_one_step(client, db, shop):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{shop.customer.id}/orders", example_form(shop, action="submit"))
    assert response.status_code == 303
    order = only_order(db)
    assert order.status == "submitted"
    assert order.submitted_at is not None
    assert order_history(db, order) == [("created", "62.17"), ("submitted", "62.17")]


def test_prices_sent_by_a_form_are_never_read(client, db, shop):
    client.login("rep1@example.com")
    form = order_form((shop.coffee.id, "2", ""), unit_price=["0.01"], net_price="0.01",
                      net_total="0.01", gross_total="0.01", vat_rate="0")
    assert client.form(f"/customers/{shop.customer.id}/orders", form).status_code == 303
    order = only_order(db)
    assert order.lines[0].unit_price == D("12.50")
    assert order.gross_total == D("26.75")


def test_prices_sent_as_json_are_rejected_as_unknown_fields(db, shop):
    data = {"customer_id": str(shop.customer.id), "net_total": "1.00",
            "lines": [{"product_id": str(shop.coffee.id), "quantity": "1", "unit_price": "0.01"}]}
    before = counts(db)
    with pytest.raises(ValidationError) as caught:
        operations.create_order(shop.rep, data)
    assert caught.value.errors == {"net_total": "Unknown field.", "lines.0.unit_price": "Unknown field."}
    db.session.rollback()
    assert counts(db) == before


def test_json_quantities_may_be_numbers_or_decimal_strings(db, shop):
    order = operations.create_order(shop.rep, {
        "customer_id": str(shop.customer.id), "discount_pct": "2.5",
        "lines": [{"product_id": str(shop.coffee.id), "quantity": 1.5, "discount_pct": 10},
                  {"product_id": str(shop.cups.id), "quantity": "2.125"}]})
    db.session.commit()
    assert [line.quantity for line in order.lines] == [D("1.5"), D("2.125")]
    # 1.5 × 12.50 −10 % = 16.875 → 16.88, −2.5 %: 16.458 → 16.46; 2.125 × 3.33 = 7.07625 → 7.08,
    # −2.5 %: 6.903 → 6.90; VAT 7 % of 16.46 = 1.1522 → 1.15, 19 % of 6.90 = 1.311 → 1.31
    assert (order.net_total, order.vat_total, order.gross_total) == (D("23.36"), D("2.46"), D("25.82"))


def test_the_admin_limit_decides_the_largest_discount(client, db, shop):
    client.login("rep1@example.com")
    set_setting("max_discount_pct", 20)
    db.session.commit()
    form = order_form((shop.coffee.id, "1", "20"), discount="20")
    assert client.form(f"/customers/{shop.customer.id}/orders", form).status_code == 303
    assert only_order(db).discount_pct == D("20")


def test_german_decimal_comma_in_the_form(client, db, shop):
    client.login("rep1@example.com")
    form = order_form((shop.coffee.id, "1,25", "2,5"), discount="1,5")
    assert client.form(f"/customers/{shop.customer.id}/orders", form).status_code == 303
    order = only_order(db)
    assert (order.lines[0].quantity, order.lines[0].discount_pct, order.discount_pct) == (
        D("1.25"), D("2.5"), D("1.5"))


# Bad input: per-field messages, nothing written

BAD_LINES = [
    ("negative quantity", "-1", "", "quantity", "Must be more than 0."),
    ("zero quantity", "0", "", "quantity", "Must be more than 0."),
    ("absurd quantity", "100000.001", "", "quantity", "At most 100,000."),
    ("huge quantity", "1e12", "", "quantity", "At most 100,000."),
    ("too many decimals", "1.2345", "", "quantity", "Must be a number with at most three decimal places."),
    ("malformed quantity", "1.2.3", "", "quantity", "Must be a number."),
    ("text quantity", "viel", "", "quantity", "Must be a number."),
    ("not a number", "NaN", "", "quantity", "Must be a number."),
    ("infinite", "Infinity", "", "quantity", "Must be a number."),
    ("missing quantity", "", "", "quantity", "This field is required."),
    ("discount over the limit", "1", "15.01", "discount_pct", "At most 15 % discount."),
    ("negative discount", "1", "-5", "discount_pct", "Must be between 0 and 100."),
    ("malformed discount", "1", "10%", "discount_pct", "Must be a number."),
]


@pytest.mark.parametrize(("case", "quantity", "discount", "field", "message"), BAD_LINES,
                         ids=[row[0] for row in BAD_LINES])
def test_bad_line_input_is_a_422_with_the_message_and_nothing_written(
        client, db, shop, case, quantity, discount, field, message):
    client.login("rep1@example.com")
    before = counts(db)
    form = order_form((shop.cups.id, "2", ""), (shop.coffee.id, quantity, discount))
    response = client.form(f"/customers/{shop.customer.id}/orders", form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error_line = re.search(r'id="line-error-k1"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert message in error_line
    assert re.search(r'id="line-error-k0"[^>]*></p>', page)  # the good line has no message
    assert f'value="{quantity}"' in page  # what the rep typed is kept
    assert counts(db) == before


@pytest.mark.parametrize(("case", "product", "message"), [
    ("unknown product", lambda w: uuid.uuid4(), "Unknown product."),
    ("inactive product", lambda w: w.old.id, "Auslaufmodell is no longer sold."),
    ("malformed id", lambda w: "kaffee", "Not a valid id."),
    ("missing product", lambda w: "", "This field is required."),
])
def test_unknown_or_inactive_products_are_line_errors(client, db, shop, case, product, message):
    client.login("rep1@example.com")
    before = counts(db)
    response = client.form(f"/customers/{shop.customer.id}/orders",
                           order_form((product(shop), "1", "")))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts(db) == before


def test_order_discount_over_the_limit(client, db, shop):
    client.login("rep1@example.com")
    before = counts(db)
    response = client.form(f"/customers/{shop.customer.id}/orders",
                           order_form((shop.coffee.id, "1", ""), discount="16"))
    assert response.status_code == 422
    assert re.search(r'id="discount-error">At most 15 % discount.</p>', response.get_data(as_text=True))
    assert counts(db) == before


def test_an_order_total_too_large_for_the_books(db, shop, make_product):
    gold = make_product(sku="AU-1", name="Gold", net_price=D("9999999999"), vat_rate=D("19"))
    with pytest.raises(ValidationError) as caught:
        operations.create_order(shop.rep, {"customer_id": str(shop.customer.id),
                                           "lines": [{"product_id": str(gold.id), "quantity": "2"}]})
    assert caught.value.errors == {"lines": "The order total is too large."}


@pytest.mark.parametrize(("data", "errors"), [
    ({"lines": "two coffees"}, {"lines": "Must be a list of order lines."}),
    ({"lines": ["coffee"]}, {"lines.0": "Must be an order line object."}),
    ({"lines": [{"product_id": "P", "quantity": True}]},
     {"lines.0.product_id": "Not a valid id.", "lines.0.quantity": "Must be a number."}),
    ({"lines": [{"quantity": "1"}]}, {"lines.0.product_id": "This field is required."}),
    ({"lines": [], "discount_pct": 5}, {}),  # a number is fine for a percentage
    ({"lines": [], "discount_pct": "5.555"}, {"discount_pct": "Must be a number with at most two decimal places."}),
    ({"lines": [], "status": "confirmed"}, {"status": "Choose one of: draft, submitted."}),
    ({"lines": [], "status": "submitted"}, {"lines": "Add at least one line before submitting."}),
    ({"lines": [], "visit_id": str(uuid.uuid4())}, {"visit_id": "Unknown visit."}),
])
def test_bad_json_input(db, shop, data, errors):
    before = counts(db)
    data = {"customer_id": str(shop.customer.id)} | data
    if not errors:
        operations.create_order(shop.rep, data)
        db.session.rollback()
        return
    with pytest.raises(ValidationError) as caught:
        operations.create_order(shop.rep, data)
    assert {k: str(v) for k, v in caught.value.errors.items()} == errors
    db.session.rollback()
    assert counts(db) == before


def test_a_customer_out_of_scope_is_unknown(db, shop):
    with pytest.raises(ValidationError) as caught:
        operations.create_order(shop.rep, {"customer_id": str(shop.other_customer.id), "lines": []})
    assert caught.value.errors == {"customer_id": "Unknown customer."}


def test_too_many_lines(db, shop):
    lines = [{"product_id": str(shop.coffee.id), "quantity": "1"}] * 201
    with pytest.raises(ValidationError) as caught:
        operations.create_order(shop.rep, {"customer_id": str(shop.customer.id), "lines": lines})
    assert caught.value.errors == {"lines": "At most 200 lines per order."}


def test_messages_and_the_confirmation_in_german(client, db, shop):
    shop.rep.locale = "de"
    db.session.commit()
    client.login("rep1@example.com")
    response = client.form(f"/customers/{shop.customer.id}/orders",
                           order_form((shop.coffee.id, "-1", "20"), (shop.old.id, "1", "")))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Muss größer als 0 sein." in page
    assert "Höchstens 15 % Rabatt." in page
    assert "Auslaufmodell" in page and "Auslaufmodell is no longer sold." not in page
    order = make_order(db, shop, status="submitted")
    assert "Auftragsbestätigung" in client.get(f"/orders/{order.id}/print").get_data(as_text=True)
    response = client.form(f"/orders/{order.id}/edit", order_form((shop.cups.id, "1", "")))
    assert response.status_code == 409
    assert "Dieser Auftrag wurde übermittelt und kann nicht mehr geändert werden." in \
        response.get_data(as_text=True)


# The order form's helpers: catalogue search, new line, live totals

def test_product_search_by_name_or_sku_lists_active_products_only(client, shop):
    client.login("rep1@example.com")
    by_name = client.get("/orders/products?q=kaffee").get_data(as_text=True)
    assert "Kaffee Crema 1 kg" in by_name and "Tassen" not in by_name
    by_sku = client.get("/orders/products?q=TAS-").get_data(as_text=True)
    assert "Tassen 6er" in by_sku and "Kaffee" not in by_sku
    assert f'hx-get="/orders/line?product_id={shop.cups.id}"' in by_sku
    assert "Auslaufmodell" not in client.get("/orders/products?q=Auslauf").get_data(as_text=True)
    assert "No matching products." in client.get("/orders/products?q=%25").get_data(as_text=True)


def test_a_new_line_is_a_partial_that_asks_for_new_totals(client, shop):
    client.login("rep1@example.com")
    response = client.get(f"/orders/line?product_id={shop.coffee.id}")
    assert response.status_code == 200
    assert response.headers["HX-Trigger-After-Settle"] == "lines-changed"
    page = response.get_data(as_text=True)
    assert 'name="quantity" value="1"' in page
    assert f'name="product_id" value="{shop.coffee.id}"' in page
    assert "12.50" in page
    assert client.get(f"/orders/line?product_id={shop.old.id}").status_code == 404
    assert client.get("/orders/line?product_id=nope").status_code == 404


def test_the_preview_prices_on_the_server_in_the_users_locale(client, db, shop):
    shop.rep.locale = "de"
    db.session.commit()
    client.login("rep1@example.com")
    before = counts(db)
    response = client.form(f"/customers/{shop.customer.id}/orders/preview", example_form(shop))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'class="gross-total">62,17\xa0€<', page)
    assert "22,14\xa0€" in page and "4,21\xa0€" in page and "33,48\xa0€" in page
    assert re.search(r'id="line-amount-k0" hx-swap-oob="true">33,75\xa0€<', page)
    assert counts(db) == before


def test_the_preview_shows_errors_and_totals_of_the_valid_lines(client, db, shop):
    client.login("rep1@example.com")
    form = order_form((shop.coffee.id, "2", ""), (shop.cups.id, "-3", ""), discount="99")
    page = client.form(f"/customers/{shop.customer.id}/orders/preview", form).get_data(as_text=True)
    assert re.search(r'class="gross-total">€26.75<', page)
    assert re.search(r'id="line-error-k1"[^>]*>Quantity: Must be more than 0.</p>', page)
    assert re.search(r'id="discount-error" hx-swap-oob="true">At most 15 % discount.</p>', page)


def test_a_blank_order_discount_is_no_discount(client, db, shop):
    """Spaces in the discount field (a phone's autocorrect) were a 500 in the preview."""
    client.login("rep1@example.com")
    form = order_form((shop.coffee.id, "2", ""), discount="   ")
    response = client.form(f"/customers/{shop.customer.id}/orders/preview", form)
    assert response.status_code == 200
    assert re.search(r'class="gross-total">€26.75<', response.get_data(as_text=True))


# The order page, the confirmation, the lists

def test_order_page_and_printable_confirmation_in_german(client, db, shop):
    shop.rep.locale = "de"
    db.session.commit()
    big = make_order(db, shop, lines=[{"product_id": str(shop.coffee.id), "quantity": "100"}])
    client.login("rep1@example.com")
    page = client.get(f"/orders/{big.id}").get_data(as_text=True)
    assert "1.250,00\xa0€" in page  # net
    assert "1.337,50\xa0€" in page  # gross: 1,250.00 + 7 % 87.50
    assert f'action="/orders/{big.id}/submit"' in page
    assert f'action="/orders/{big.id}/confirm"' not in page  # reps do not confirm

    order = make_order(db, shop, lines=[{"product_id": str(shop.coffee.id), "quantity": "3",
                                         "discount_pct": "10"},
                                        {"product_id": str(shop.cups.id), "quantity": "7"},
                                        {"product_id": str(shop.milk.id), "quantity": "1.5"}],
                       discount="5", status="submitted")
    printed = client.get(f"/orders/{order.id}/print")
    assert printed.status_code == 200
    text = printed.get_data(as_text=True)
    assert "@media print" not in text and "css/app.css" in text
    assert "Hauptstraße 1" in text and "20095 Hamburg" in text
    assert re.search(r"19 %[^<]*22,14\xa0€</th><td>4,21\xa0€</td>", text)  # VAT per rate
    assert re.search(r"7 %[^<]*33,48\xa0€</th><td>2,34\xa0€</td>", text)
    assert "62,17\xa0€" in text
    assert "1,5 kg" in text


def test_customer_page_shows_orders_and_a_new_order_button(client, db, shop):
    order = make_order(db, shop)
    client.login("rep1@example.com")
    page = client.customer_page(shop.customer.id)
    assert f'href="/customers/{shop.customer.id}/orders/new"' in page
    assert f'href="/orders/{order.id}"' in page
    assert "€26.75" in page


def test_recent_orders_mine_for_reps_the_teams_for_managers(make_client, db, shop):
    mine = make_order(db, shop)
    theirs = operations.create_order(shop.other_rep, {"customer_id": str(shop.other_customer.id),
                                                      "lines": []})
    db.session.commit()

    def listed(email, query=""):
        client = make_client()
        client.login(email)
        page = client.get(f"/orders{query}").get_data(as_text=True)
        return {order for order in (mine, theirs) if f'href="/orders/{order.id}"' in page}

    assert listed("rep1@example.com") == {mine}
    assert listed("rep2@example.com") == {theirs}
    assert listed("manager@example.com") == {mine}
    assert listed("manager@example.com", "?status=submitted") == set()
    assert listed("admin@example.com") == {mine, theirs}


def test_recent_orders_page_by_page(client, db, shop):
    orders = [make_order(db, shop) for _ in range(23)]
    client.login("rep1@example.com")
    first = client.get("/orders").get_data(as_text=True)
    cursor = re.search(r'hx-get="/orders\?after=([^"]+)"', first).group(1)
    more = client.get(f"/orders?after={cursor}", headers={"HX-Request": "true",
                                                          "HX-Target": "more-orders"})
    assert "<html" not in more.get_data(as_text=True)
    shown = set(re.findall(r'href="/orders/([0-9a-f-]{36})"', first + more.get_data(as_text=True)))
    assert shown == {str(order.id) for order in orders}
    assert client.get("/orders?after=garbage").status_code == 200


# The state machine

def _post(client, order, action, data=None):
    path = f"/orders/{order.id}/edit" if action == "edit" else f"/orders/{order.id}/{action}"
    return client.form(path, data or {})


TRANSITIONS = [
    # start, action, who, HTTP status, final status
    ("draft", "submit", "rep", 303, "submitted"),
    ("draft", "cancel", "rep", 303, "cancelled"),
    ("draft", "confirm", "manager", 409, "draft"),
    ("draft", "confirm", "rep", 403, "draft"),
    ("draft", "edit", "rep", 303, "draft"),
    ("draft", "submit", "manager", 303, "submitted"),
    ("submitted", "confirm", "manager", 303, "confirmed"),
    ("submitted", "confirm", "admin", 303, "confirmed"),
    ("submitted", "confirm", "rep", 403, "submitted"),
    ("submitted", "cancel", "rep", 303, "cancelled"),
    ("submitted", "cancel", "manager", 303, "cancelled"),
    ("submitted", "submit", "rep", 409, "submitted"),
    ("submitted", "edit", "rep", 409, "submitted"),
    ("submitted", "edit", "manager", 409, "submitted"),
    ("confirmed", "cancel", "rep", 409, "confirmed"),
    ("confirmed", "cancel", "manager", 409, "confirmed"),
    ("confirmed", "submit", "rep", 409, "confirmed"),
    ("confirmed", "confirm", "manager", 409, "confirmed"),
    ("confirmed", "edit", "manager", 409, "confirmed"),
    ("cancelled", "submit", "rep", 409, "cancelled"),
    ("cancelled", "confirm", "manager", 409, "cancelled"),
    ("cancelled", "cancel", "rep", 409, "cancelled"),
    ("cancelled", "edit", "rep", 409, "cancelled"),
]
EMAILS = {"rep": "rep1@example.com", "manager": "manager@example.com", "admin": "admin@example.com"}


@pytest.mark.parametrize(("start", "action", "who", "status", "final"), TRANSITIONS,
                         ids=[f"{s}-{a}-{w}" for s, a, w, *_ in TRANSITIONS])
def test_every_transition(client, db, shop, start, action, who, status, final):
    order = make_order(db, shop, status=start)
    before = (order.version, order.gross_total, [line.quantity for line in order.lines])
    history_before = order_history(db, order)
    client.login(EMAILS[who])
    response = _post(client, order, action, order_form((shop.coffee.id, "5", "")))
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status == final
    if status >= 400:
        assert (order.version, order.gross_total, [line.quantity for line in order.lines]) == before
        assert order_history(db, order) == history_before
    else:
        assert order.version > before[0]
        assert len(order_history(db, order)) == len(history_before) + 1


@pytest.mark.parametrize("start", ["submitted", "confirmed", "cancelled"])
def test_editing_a_closed_order_is_a_409_with_a_clear_message(client, db, shop, start):
    order = make_order(db, shop, status=start)
    client.login("rep1@example.com")
    response = _post(client, order, "edit", order_form((shop.cups.id, "1", "")))
    assert response.status_code == 409
    assert f"This order was {start} and can no longer be changed." in response.get_data(as_text=True)
    assert client.get(f"/orders/{order.id}/edit").status_code == 409


def test_editing_a_submitted_order_changes_nothing(client, db, shop):
    order = make_order(db, shop, status="submitted")
    version, lines = order.version, [(line.id, line.product_id, line.quantity) for line in order.lines]
    client.login("manager@example.com")
    response = _post(client, order, "edit", order_form((shop.cups.id, "99", ""), discount="10"))
    assert response.status_code == 409
    assert SUBMITTED_MESSAGE in response.get_data(as_text=True)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.version == version
    assert [(line.id, line.product_id, line.quantity) for line in order.lines] == lines
    assert order.discount_pct == 0


def test_operations_refuse_changes_to_a_submitted_order(db, shop):
    order = make_order(db, shop, status="submitted")
    with pytest.raises(OrderLocked) as caught:
        operations.update_order(shop.rep, order, {"lines": []})
    assert caught.value.message == SUBMITTED_MESSAGE
    assert caught.value.status == 409
    with pytest.raises(OrderLocked):
        operations.set_status(shop.rep, order, "draft")
    with pytest.raises(OrderForbidden):
        operations.set_status(shop.rep, order, "confirmed")
    assert operations.set_status(shop.rep, order, "submitted") is order  # already there


def test_json_patch_with_status_submits(db, shop):
    order = make_order(db, shop)
    operations.update_order(shop.rep, order, {"status": "submitted"})
    db.session.commit()
    assert order.status == "submitted"
    with pytest.raises(ValidationError) as caught:
        operations.update_order(shop.manager, order, {"status": "shipped"})
    assert "status" in caught.value.errors


def test_json_patch_changes_only_the_given_fields(db, shop):
    order = make_order(db, shop, discount="5")
    operations.update_order(shop.rep, order, {"discount_pct": "10"})
    db.session.commit()
    assert [(line.product_id, line.quantity) for line in order.lines] == [(shop.coffee.id, D("2"))]
    assert order.net_total == D("22.50")  # 25.00 − 10 %
    with pytest.raises(ValidationError) as caught:
        operations.update_order(shop.rep, order, {"customer_id": str(shop.other_customer.id)})
    assert caught.value.errors == {"customer_id": "The customer of an order cannot be changed."}


def test_submit_needs_at_least_one_line(client, db, shop):
    order = make_order(db, shop, lines=[])
    client.login("rep1@example.com")
    response = _post(client, order, "submit")
    assert response.status_code == 422
    assert "Add at least one line before submitting." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "draft"


def test_submit_prices_with_the_current_catalogue(client, db, shop):
    order = make_order(db, shop)
    assert order.gross_total == D("26.75")
    shop.coffee.net_price = D("13.00")
    db.session.commit()
    client.login("rep1@example.com")
    assert _post(client, order, "submit").status_code == 303
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.lines[0].unit_price == D("13.00")
    assert order.gross_total == D("27.82")  # 26.00 + 7 % 1.82
    assert order_history(db, order)[-1] == ("submitted", "27.82")


def test_a_product_withdrawn_before_submit_keeps_the_draft(client, db, shop):
    order = make_order(db, shop)
    shop.coffee.active = False
    db.session.commit()
    client.login("rep1@example.com")
    response = _post(client, order, "submit")
    assert response.status_code == 422
    assert "Kaffee Crema 1 kg is no longer sold." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "draft"


def test_another_rep_of_the_territory_sees_but_cannot_change_the_order(client, db, shop, make_user):
    colleague = make_user("rep", email="rep3@example.com")
    shop.north.reps.append(colleague)
    db.session.commit()
    order = make_order(db, shop)
    client.login("rep3@example.com")
    assert client.get(f"/orders/{order.id}").status_code == 200
    for action in ("edit", "submit", "cancel"):
        response = _post(client, order, action, order_form((shop.cups.id, "1", "")))
        assert response.status_code == 403, action
    assert client.get(f"/orders/{order.id}/edit").status_code == 403
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "draft"


# Editing a draft, versions and history

def test_editing_a_draft_replaces_the_lines_and_bumps_the_version(client, db, shop):
    order = make_order(db, shop)
    version = order.version
    client.login("rep1@example.com")
    page = client.get(f"/orders/{order.id}/edit").get_data(as_text=True)
    assert 'name="quantity" value="2"' in page
    response = _post(client, order, "edit", order_form((shop.cups.id, "4", ""), (shop.coffee.id, "1", "")))
    assert response.status_code == 303
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert [(line.position, line.product_id, line.quantity) for line in order.lines] == [
        (1, shop.cups.id, D("4")), (2, shop.coffee.id, D("1"))]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OrderLine)) == 2
    assert order.version > version
    assert order_history(db, order) == [("created", "26.75"), ("updated", "29.23")]


def test_new_lines_with_the_same_totals_still_bump_the_version(db, shop, make_product):
    twin = make_product(sku="KAF-TWIN", name="Kaffee Zwilling", net_price=D("12.50"), vat_rate=D("7"))
    order = make_order(db, shop)
    version, gross = order.version, order.gross_total
    operations.update_order(shop.rep, order, {"lines": [{"product_id": str(twin.id), "quantity": "2"}]})
    db.session.commit()
    assert order.gross_total == gross
    assert order.version > version
    assert order.lines[0].product_id == twin.id


def test_each_step_bumps_the_version_and_writes_history(db, shop):
    order = make_order(db, shop)
    versions = [order.version]
    operations.submit_order(shop.rep, order)
    db.session.commit()
    versions.append(order.version)
    operations.confirm_order(shop.manager, order)
    db.session.commit()
    versions.append(order.version)
    assert versions == sorted(set(versions))
    entries = db.session.scalars(sa.select(History).where(History.ref_id == order.id)
                                 .order_by(History.version)).all()
    assert [(e.kind, e.entity, e.entity_id, e.customer_id, e.field, e.new, e.user_id) for e in entries] == [
        ("order", "order", order.id, shop.customer.id, "created", "26.75", shop.rep.id),
        ("order", "order", order.id, shop.customer.id, "submitted", "26.75", shop.rep.id),
        ("order", "order", order.id, shop.customer.id, "confirmed", "26.75", shop.manager.id),
    ]


def test_cancel_writes_history(db, shop):
    order = make_order(db, shop, status="cancelled")
    assert order_history(db, order)[-1] == ("cancelled", "26.75")


def test_stored_totals_equal_the_recomputed_pricing(db, shop):
    from fieldcrm.orders.queries import order_price
    order = make_order(db, shop, lines=[{"product_id": str(shop.coffee.id), "quantity": "3", "discount_pct": "10"},
                                        {"product_id": str(shop.cups.id), "quantity": "7"},
                                        {"product_id": str(shop.milk.id), "quantity": "1.5"}],
                       discount="5")
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    price = order_price(order)
    assert (price.net, price.vat, price.gross) == (order.net_total, order.vat_total, order.gross_total)
    assert [p.net for p in price.lines] == [line.net for line in order.lines]
    assert [p.vat for p in price.lines] == [line.vat for line in order.lines]

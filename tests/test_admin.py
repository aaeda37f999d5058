"""An admin creates, changes, deactivates and resets users; manages territories and products."""

import re
from decimal import Decimal

import sqlalchemy as sa

from fieldcrm.models import Product, Territory, User


def test_admin_creates_user_who_can_log_in(client, make_client, world, db):
    client.login("admin@example.com")
    response = client.form("/admin/users", {"email": "New@Example.com", "name": "Neu", "role": "rep",
                                            "timezone": "Europe/Berlin", "password": "long-enough-pw"})
    assert response.status_code == 303
    assert db.session.scalar(sa.select(User).where(User.email == "new@example.com")).role == "rep"
    assert make_client().login("new@example.com", "long-enough-pw").status_code == 302


def test_user_form_errors(client, world, db):
    client.login("admin@example.com")
    response = client.form("/admin/users", {"email": "rep1@example.com", "name": "", "role": "boss",
                                            "timezone": "Mars/Base", "password": "short"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    for message in ("This field is required.", "Choose one of", "exists already"):
        assert message in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 4


def test_reset_password_shows_new_password_once(client, make_client, world):
    client.login("admin@example.com")
    page = client.form(f"/admin/users/{world.rep.id}/reset-password").get_data(as_text=True)
    password = re.search(r'<code id="new-password">([^<]+)</code>', page).group(1)
    assert make_client().login("rep1@example.com").status_code == 401
    assert make_client().login("rep1@example.com", password).status_code == 302


def test_admin_cannot_deactivate_self(client, world, db):
    client.login("admin@example.com")
    client.form(f"/admin/users/{world.admin.id}/active", {"active": "0"})
    db.session.expire_all()
    assert db.session.get(User, world.admin.id).active


def test_territory_with_manager_and_reps(client, world, db):
    client.login("admin@example.com")
    response = client.form("/admin/territories", {"name": "West", "manager_id": str(world.manager.id),
                                                  "rep_ids": [str(world.rep.id), str(world.other_rep.id)]})
    assert response.status_code == 303
    territory = db.session.scalar(sa.select(Territory).where(Territory.name == "West"))
    assert {r.id for r in territory.reps} == {world.rep.id, world.other_rep.id}
    bad = client.form("/admin/territories", {"name": "X", "manager_id": str(world.rep.id)})
    assert bad.status_code == 422 and "Choose a manager." in bad.get_data(as_text=True)


def test_product_price_is_decimal_and_validated(client, world, db):
    client.login("admin@example.com")
    ok = client.form("/admin/products", {"sku": "K-1", "name": "Kaffee", "unit": "kg",
                                         "net_price": "1.234,56", "vat_rate": "7", "active": "on"})
    assert ok.status_code == 303
    product = db.session.scalar(sa.select(Product).where(Product.sku == "K-1"))
    assert product.net_price == Decimal("1234.56") and isinstance(product.net_price, Decimal)
    bad = client.form("/admin/products", {"sku": "K-1", "name": "Kaffee", "net_price": "-1",
                                          "vat_rate": "abc"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "exists already" in body or "between" in body
    assert "Must be a number." in body


def test_rep_sets_home_base_in_settings(client, world, db):
    client.login("rep1@example.com")
    response = client.form("/account", {"name": "Rita Rep", "timezone": "Europe/Berlin",
                                        "home_lat": "53,5511", "home_lon": "9.9937"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (world.rep.home_lat, world.rep.home_lon) == (53.5511, 9.9937)
    half = client.form("/account", {"name": "Rita Rep", "timezone": "Europe/Berlin",
                                    "home_lat": "53.5", "home_lon": ""})
    assert half.status_code == 422 and "together" in half.get_data(as_text=True)


def test_new_customer_form_is_prefilled_from_the_map(client, world):
    client.login("rep1@example.com")
    page = client.get("/customers/new?lat=53.55&lon=9.99&street=Hauptstra%C3%9Fe+1&city=Hamburg").get_data(as_text=True)
    assert 'value="53.55"' in page and 'value="Hauptstraße 1"' in page and 'value="Hamburg"' in page

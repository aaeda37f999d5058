"""A rep finds, opens and edits customers; history records every change."""

import sqlalchemy as sa

from fieldcrm.models import Customer, History


def test_rep_lists_only_scope(client, world):
    client.login("rep1@example.com")
    page = client.get("/customers").get_data(as_text=True)
    assert "Bäckerei Müller GmbH" in page
    assert "Metzgerei Huber" not in page


def test_rep_edits_phone_and_history_records_it(client, world, db):
    client.login("rep1@example.com")
    form = {"name": world.customer.name, "street": "Hauptstraße 1", "postal_code": "20095",
            "city": "Hamburg", "country": "DE", "status": "customer", "phone": "+49 40 123456"}
    response = client.form(f"/customers/{world.customer.id}/edit", form)
    assert response.status_code == 303
    entry = db.session.scalar(sa.select(History).where(History.field == "phone"))
    assert entry.new == "+49 40 123456" and entry.old in (None, "")
    assert entry.user_id == world.rep.id
    page = client.get(f"/customers/{world.customer.id}").get_data(as_text=True)
    assert "+49 40 123456" in page


def test_invalid_form_saves_nothing(client, world, db):
    client.login("rep1@example.com")
    before = world.customer.version
    response = client.form(f"/customers/{world.customer.id}/edit",
                           {"name": "", "postal_code": "123", "country": "DE", "status": "customer",
                            "email": "nope"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "This field is required." in body and "five digits" in body
    db.session.expire_all()
    assert db.session.get(Customer, world.customer.id).version == before


def test_versions_follow_commit_order(db, world):
    first = world.customer.version
    world.customer.phone = "+49 40 1"
    db.session.commit()
    assert world.customer.version > first


def test_customer_page_loads_its_working_panels_after_it_is_shown(client, world):
    client.login("rep1@example.com")
    working = f"/customers/{world.customer.id}/working"
    page = client.get(f"/customers/{world.customer.id}").get_data(as_text=True)
    assert f'hx-get="{working}"' in page and 'hx-trigger="load"' in page
    assert f'href="{working}"' in page  # without JavaScript: the panels on a page of their own
    assert 'id="at-customer"' not in page and 'id="orders-h"' not in page
    fragment = client.get(working, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="at-customer"' in fragment and 'id="orders-h"' in fragment
    assert "<html" not in fragment
    alone = client.get(working).get_data(as_text=True)
    assert "<html" in alone and 'id="at-customer"' in alone and world.customer.name in alone

"""Everyone downloads the customer list they see, filtered as on screen, safe to open in Excel."""

import csv
import io

import pytest
import sqlalchemy as sa
from test_imports import _get_batch, batch_of, run_imports, upload

from fieldcrm.models import Customer, History


def export(client, **query):
    # buffered: the test client reads the streamed body inside the request's own context
    return client.get("/customers/export.csv", query_string=query, buffered=True)


def table(response, delimiter=",") -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def names(rows) -> list[str]:
    return [row[1] for row in rows[1:]]


def test_rep_exports_own_scope_as_comma_separated_utf8_with_bom(client, world):
    client.login("rep1@example.com")
    response = export(client)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="customers-')
    assert "Content-Length" not in response.headers
    rows = table(response)
    assert rows[0][:5] == ["ID", "Name", "Street", "Postal code", "City"]
    assert rows[0][-3:] == ["Owner", "Territory", "Last change"]
    assert names(rows) == ["Bäckerei Müller GmbH"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["ID"], row["Latitude"], row["Longitude"]) == (str(world.customer.id), "53.55", "9.99")
    assert (row["Owner"], row["Territory"], row["Status"]) == ("Rita Rep", "Nord", "customer")
    assert response.get_data().count(b"\r\n") == 2


def test_german_user_gets_semicolons_for_german_excel(client, world, db):
    world.rep.locale = "de"
    db.session.commit()
    client.login("rep1@example.com")
    body = export(client).get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert "Bäckerei Müller GmbH;Hauptstraße 1;20095;Hamburg".encode() in body
    assert b";53.55;9.99;" in body


@pytest.mark.parametrize(("email", "expected"), [
    ("rep1@example.com", ["Bäckerei Müller GmbH", "Kontor Nord"]),
    ("rep2@example.com", ["Metzgerei Huber"]),
    ("manager@example.com", ["Bäckerei Müller GmbH", "Kontor Nord"]),
    ("admin@example.com", ["Bäckerei Müller GmbH", "Kontor Nord", "Metzgerei Huber"]),
])
def test_each_role_exports_only_its_scope(client, world, make_customer, email, expected):
    make_customer(name="Kontor Nord", territory_id=world.north.id)
    make_customer(name="Gelöscht", territory_id=world.north.id, deleted=True)
    client.login(email)
    assert names(table(export(client))) == expected


def test_export_follows_the_list_filters(client, world, make_customer):
    make_customer(name="Kontor Nord", status="lead", abc_class="A", territory_id=world.north.id)
    make_customer(name="Kaffee Nord", city="Kiel", status="lead", territory_id=world.north.id,
                  owner_id=world.rep.id)
    client.login("manager@example.com")
    assert names(table(export(client, q="kontor"))) == ["Kontor Nord"]
    assert names(table(export(client, q="Kiel"))) == ["Kaffee Nord"]
    assert names(table(export(client, status="lead"))) == ["Kaffee Nord", "Kontor Nord"]
    assert names(table(export(client, abc="A"))) == ["Kontor Nord"]
    assert names(table(export(client, owner=str(world.rep.id)))) == ["Bäckerei Müller GmbH", "Kaffee Nord"]
    assert names(table(export(client, status="bogus", owner="not-a-uuid"))) == [
        "Bäckerei Müller GmbH", "Kaffee Nord", "Kontor Nord"]


def test_formula_cells_are_neutralised_and_numbers_are_not(client, world, make_customer):
    make_customer(name='=HYPERLINK("http://evil.example","Klick")', street="-2+3 Hinterhof",
                  phone="+49 40 123456", industry="@SUM(A1)", city="\tTab", opening_hours="\rMo",
                  lat=40.4, lon=-3.7, territory_id=world.north.id)
    client.login("manager@example.com")
    rows = table(export(client))
    row = dict(zip(rows[0], next(r for r in rows if "HYPERLINK" in r[1]), strict=True))
    assert row["Name"] == "'=HYPERLINK(\"http://evil.example\",\"Klick\")"
    assert (row["Street"], row["Phone"], row["Industry"]) == ("'-2+3 Hinterhof", "'+49 40 123456", "'@SUM(A1)")
    assert (row["City"], row["Opening hours"]) == ("'\tTab", "'\rMo")
    assert (row["Latitude"], row["Longitude"]) == ("40.4", "-3.7")


def test_large_export_is_paged_and_complete(client, world, db):
    db.session.add_all(Customer(name=f"Kunde {n:05d}", postal_code="20095", territory_id=world.north.id)
                       for n in range(2345))
    db.session.commit()
    client.login("manager@example.com")
    listed = names(table(export(client)))
    assert len(listed) == 2346
    assert listed == sorted(listed)
    assert len(set(listed)) == 2346


def test_htmx_click_sends_the_browser_to_the_download(client, world):
    client.login("rep1@example.com")
    response = client.get("/customers/export.csv", query_string={"q": "Bäck", "status": "customer"},
                          headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/customers/export.csv?q=B%C3%A4ck&status=customer"


def test_list_page_links_to_export_and_import(client, make_client, world):
    client.login("manager@example.com")
    page = client.get("/customers?status=customer").get_data(as_text=True)
    assert 'href="/customers/export.csv?status=customer"' in page
    assert 'hx-include="form.filters"' in page
    assert 'href="/import"' in page
    rep = make_client()
    rep.login("rep1@example.com")
    assert 'href="/import"' not in rep.get("/customers").get_data(as_text=True)


def test_an_export_imports_back_unchanged(client, world, db, make_customer):
    formula = '=HYPERLINK("http://evil.example","Klick")'
    make_customer(name=formula, phone="+49 40 123456", street="Am Kai 2", postal_code="20097",
                  territory_id=world.north.id)
    client.login("manager@example.com")
    exported = export(client).get_data()
    edited = exported.replace(b"Hauptstra\xc3\x9fe 1", b"Hauptstra\xc3\x9fe 99")

    batch = batch_of(upload(client, edited, "customers.csv"))
    assert batch.mapping["fields"][:3] == ["", "name", "street"]
    assert batch.mapping["fields"][-3:] == ["", "", ""]
    form = {f"column-{i}": name for i, name in enumerate(batch.mapping["fields"])}
    client.form(f"/import/{batch.id}", form | {"territory_id": str(world.north.id), "on_duplicate": "update"})
    run_imports()
    batch = _get_batch(batch.id)
    assert (batch.created_rows, batch.updated_rows, batch.error_rows) == (0, 2, 0)
    db.session.expire_all()
    assert db.session.get(Customer, world.customer.id).street == "Hauptstraße 99"
    imported = db.session.scalars(sa.select(Customer).where(Customer.name == formula)).one()
    assert imported.phone == "+49 40 123456"
    changes = db.session.scalars(sa.select(History.field).where(
        History.entity_id == imported.id, History.kind == "change")).all()
    assert changes == []

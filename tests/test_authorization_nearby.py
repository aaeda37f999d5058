"""Every nearby/map route × every role → the expected status (see tests/authz.py), and
out-of-scope customers never reach the list, the map data or a popup."""

import sys
import types

import pytest
from authz import ANY_USER, EMAILS, IN_SCOPE, ROLES, cases, check_junk, check_route, junk_cases

HAMBURG = "lat=53.55&lon=9.99"
REDIRECT = dict.fromkeys(ROLES, 302)

# (endpoint, method, path builder, form builder or None, expected status by role)
MATRIX = [
    ("nearby.index", "GET", lambda w: "/nearby", None, ANY_USER),
    ("nearby.list_customers", "GET", lambda w: f"/nearby/list?{HAMBURG}", None, ANY_USER),
    ("nearby.map_page", "GET", lambda w: "/map", None, ANY_USER),
    ("nearby.map_customers", "GET", lambda w: "/map/customers.json?bbox=47,5,55,16", None, ANY_USER),
    ("nearby.map_popup", "GET", lambda w: f"/map/customers/{w.customer.id}/popup", None, IN_SCOPE),
    ("nearby.new_here", "GET", lambda w: f"/map/new-here?{HAMBURG}", None, REDIRECT),
]


@pytest.fixture(autouse=True)
def no_network_geocoder(monkeypatch):
    """"New customer here" asks the geocoder; here it answers from memory."""
    module = types.ModuleType("fieldcrm.geocoding")
    module.reverse_geocode = lambda lat, lon: {"street": "Mönckebergstraße 1",
                                               "postal_code": "20095", "city": "Hamburg",
                                               "country": "DE"}
    module.geocode_place = lambda text: None
    monkeypatch.setitem(sys.modules, "fieldcrm.geocoding", module)


@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role", "expected"), cases(MATRIX))
def test_route_role_status(client, cast, endpoint, method, path, form, role, expected):
    check_route(client, cast, method, path, form, role, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role"), junk_cases(MATRIX))
def test_junk_is_never_a_500(client, cast, endpoint, method, path, form, role):
    check_junk(client, cast, method, path, form, role)


def test_matrix_covers_every_nearby_route(app):
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"} if rule.endpoint.startswith("nearby.")}
    assert routes == {(endpoint, method) for endpoint, method, *_ in MATRIX}


def test_anonymous_is_sent_to_login(client, cast):
    client.refresh_csrf()
    for path in ("/nearby", f"/nearby/list?{HAMBURG}", "/map", "/map/customers.json?bbox=47,5,55,16",
                 f"/map/customers/{cast.customer.id}/popup", f"/map/new-here?{HAMBURG}"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


@pytest.fixture
def side_by_side(cast, make_customer):
    """The other territory's customer right next to the rep's, and both reps' own customers."""
    cast.customer.lat, cast.customer.lon = 53.5503, 9.9925
    cast.other_customer.lat, cast.other_customer.lon = 53.5504, 9.9926
    cast.owned = make_customer(name="Eigenkunde ohne Gebiet", lat=53.56, lon=10.0, postal_code="22041",
                               owner_id=cast.rep.id, territory_id=None)
    cast.loose = make_customer(name="Niemandskunde", lat=53.551, lon=9.993, owner_id=None,
                               territory_id=None)
    cast.gone = make_customer(name="Gelöschter Kunde", lat=53.5502, lon=9.9924,
                              territory_id=cast.north.id, deleted=True)
    return cast


VISIBLE = {  # role: the names that role may see among the side-by-side customers
    "rep": {"Bäckerei Müller GmbH", "Eigenkunde ohne Gebiet"},
    "other_rep": {"Metzgerei Huber"},
    "manager": {"Bäckerei Müller GmbH", "Eigenkunde ohne Gebiet"},
    "admin": {"Bäckerei Müller GmbH", "Eigenkunde ohne Gebiet", "Metzgerei Huber", "Niemandskunde"},
}
EVERYONE = {"Bäckerei Müller GmbH", "Eigenkunde ohne Gebiet", "Metzgerei Huber", "Niemandskunde",
            "Gelöschter Kunde"}


@pytest.mark.parametrize("role", ROLES[1:])
def test_list_shows_only_customers_in_scope(client, side_by_side, db, role):
    db.session.commit()
    client.login(EMAILS[role])
    for query in (f"{HAMBURG}", f"{HAMBURG}&radius_km=50", "lat=0&lon=0"):
        html = client.get(f"/nearby/list?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
        shown = {name for name in EVERYONE if name in html}
        assert shown == VISIBLE[role], (role, query)


@pytest.mark.parametrize("role", ROLES[1:])
def test_map_data_shows_only_customers_in_scope(client, side_by_side, db, app, role):
    db.session.commit()
    client.login(EMAILS[role])
    answer = client.get("/map/customers.json?bbox=-90,-180,90,180").get_json()
    assert {item["name"] for item in answer["items"]} == VISIBLE[role]
    app.config["MAP_MAX_MARKERS"] = 0  # grid counts must respect scope just the same
    answer = client.get("/map/customers.json?bbox=-90,-180,90,180").get_json()
    assert answer["mode"] == "grid" and answer["total"] == len(VISIBLE[role])


def test_popup_of_out_of_scope_or_deleted_customer_is_404(client, side_by_side, db):
    db.session.commit()
    client.login(EMAILS["rep"])
    for customer in (side_by_side.other_customer, side_by_side.loose, side_by_side.gone):
        assert client.get(f"/map/customers/{customer.id}/popup").status_code == 404
    assert client.get("/map/customers/not-a-uuid/popup").status_code == 404
    assert client.get(f"/map/customers/{side_by_side.owned.id}/popup").status_code == 200


def test_typed_postal_code_uses_only_customers_in_scope(client, side_by_side, db):
    side_by_side.other_customer.postal_code = "20095"
    side_by_side.other_customer.lat, side_by_side.other_customer.lon = 48.14, 11.58
    db.session.commit()
    client.login(EMAILS["rep"])
    response = client.get("/nearby/list?place=20095", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Metzgerei Huber" not in html
    # The centre is the rep's own customer in 20095, not pulled towards Munich.
    assert 'data-metres="0.0"' in html

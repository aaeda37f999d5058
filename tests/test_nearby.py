"""The nearby list and the map's data: ordering, radius, filters, badges, bad input."""

import re
import sys
import types
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import force_locale

from fieldcrm import nearby
from fieldcrm.geo import distance_m
from fieldcrm.models import User
from fieldcrm.visits_due import visit_due

RATHAUS = (53.5503, 9.9925)
PLACES = {  # name: (lat, lon, postal code, city)
    "Kaffeerösterei Speicherstadt": (53.5437, 9.9886, "20457", "Hamburg"),
    "Fischhandel Altona": (53.5446, 9.9524, "22767", "Hamburg"),
    "Blumen Wandsbek": (53.5717, 10.0684, "22041", "Hamburg"),
    "Werkzeug Harburg": (53.4606, 9.9836, "21073", "Hamburg"),
    "Bäckerei Pinneberg": (53.6553, 9.7977, "25421", "Pinneberg"),
    "Autohaus Norderstedt": (53.7064, 10.0015, "22846", "Norderstedt"),
    "Getränke Lüneburg": (53.2464, 10.4115, "21335", "Lüneburg"),
    "Werft Kiel": (54.3233, 10.1228, "24103", "Kiel"),
}
HX = {"HX-Request": "true", "HX-Target": "nearby-list"}


@pytest.fixture
def hamburg(world, make_customer, db):
    """The rep's customers around Hamburg, plus another territory's customer at the Rathaus."""
    made = {}
    for n, (name, (lat, lon, postal_code, city)) in enumerate(PLACES.items()):
        made[name] = make_customer(
            name=name, lat=lat, lon=lon, postal_code=postal_code, city=city,
            territory_id=world.north.id, status=("customer", "prospect", "lead")[n % 3],
            abc_class=("A", "B", "C", None)[n % 4], phone=f"+49 40 {1000 + n}")
    made["other"] = make_customer(name="Fremdkunde Rathausmarkt", lat=53.5504, lon=9.9926,
                                  territory_id=world.south.id, owner_id=world.other_rep.id)
    world.customer.lat, world.customer.lon = None, None  # the standard customer has no position
    db.session.commit()
    world.places = made
    return world


def listed(response) -> list[tuple[str, float]]:
    """(customer id, metres) of the rows of a nearby fragment or page, in order."""
    html = response.get_data(as_text=True)
    ids = re.findall(r'class="row nearby-row" data-customer-id="([^"]+)"', html)
    metres = [float(m) for m in re.findall(r'data-metres="([^"]+)"', html)]
    assert len(ids) == len(metres)
    return list(zip(ids, metres, strict=True))


def names_of(world, rows) -> list[str]:
    by_id = {str(c.id): name for name, c in world.places.items()}
    return [by_id[cid] for cid, _ in rows]


def get_list(client, **params):
    return client.get("/nearby/list", query_string=params, headers=HX)


def test_fragment_is_sorted_by_geodesic_distance(client, hamburg, db):
    db.session.commit()
    client.login("rep1@example.com")
    response = get_list(client, lat=RATHAUS[0], lon=RATHAUS[1])
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]
    rows = listed(response)
    expected = sorted(PLACES, key=lambda n: distance_m(*RATHAUS, *PLACES[n][:2]))
    assert names_of(hamburg, rows) == expected
    for (_cid, metres), name in zip(rows, expected, strict=True):
        assert metres == pytest.approx(distance_m(*RATHAUS, *PLACES[name][:2]), abs=0.1)


def test_other_territorys_customer_never_listed(client, hamburg):
    client.login("rep1@example.com")
    html = get_list(client, lat=53.5504, lon=9.9926).get_data(as_text=True)
    assert "Fremdkunde" not in html

def test_other_rep_sees_only_their_own(make_client, hamburg):
    other = make_client()
    other.login("rep2@example.com")
    rows = listed(get_list(other, lat=53.5504, lon=9.9926))
    assert {cid for cid, _ in rows} == {str(hamburg.places["other"].id), str(hamburg.other_customer.id)}


def test_nearest_mode_shows_at_most_the_limit(client, hamburg, app):
    app.config["NEARBY_LIMIT"] = 3
    client.login("rep1@example.com")
    response = get_list(client, lat=RATHAUS[0], lon=RATHAUS[1])
    assert names_of(hamburg, listed(response)) == [
        "Kaffeerösterei Speicherstadt", "Fischhandel Altona", "Blumen Wandsbek"]
    assert "3 nearest customers to your location" in response.get_data(as_text=True)


@pytest.mark.parametrize(("radius", "count"), [(1, 1), (5, 2), (10, 3), (25, 6), (50, 7)])
def test_radius_keeps_only_customers_within_it(client, hamburg, radius, count):
    client.login("rep1@example.com")
    rows = listed(get_list(client, lat=RATHAUS[0], lon=RATHAUS[1], radius_km=radius))
    assert len(rows) == count
    assert all(metres <= radius * 1000 for _, metres in rows)
    assert [m for _, m in rows] == sorted(m for _, m in rows)


def test_radius_with_more_customers_than_shown_says_so(client, hamburg, app):
    app.config["NEARBY_RADIUS_MAX_ROWS"] = 2
    client.login("rep1@example.com")
    response = get_list(client, lat=RATHAUS[0], lon=RATHAUS[1], radius_km=50)
    assert len(listed(response)) == 2
    assert "More customers are in this radius" in response.get_data(as_text=True)


def test_empty_radius_suggests_a_larger_one(client, hamburg):
    client.login("rep1@example.com")
    response = get_list(client, lat=54.0, lon=8.0, radius_km=1)
    assert response.status_code == 200 and listed(response) == []
    assert "No customers within 1 km" in response.get_data(as_text=True)


def test_status_and_class_filters(client, hamburg):
    client.login("rep1@example.com")
    for params, check in [({"status": "prospect"}, lambda c: c.status == "prospect"),
                          ({"abc": "A"}, lambda c: c.abc_class == "A"),
                          ({"status": "customer", "abc": "A"},
                           lambda c: c.status == "customer" and c.abc_class == "A")]:
        rows = listed(get_list(client, lat=RATHAUS[0], lon=RATHAUS[1], radius_km=50, **params))
        expected = {str(c.id) for name, c in hamburg.places.items()
                    if name != "other" and check(c)
                    and distance_m(*RATHAUS, c.lat, c.lon) <= 50_000}
        assert {cid for cid, _ in rows} == expected and expected, params


def test_full_page_when_not_htmx(client, hamburg):
    client.login("rep1@example.com")
    response = client.get("/nearby/list", query_string={"lat": RATHAUS[0], "lon": RATHAUS[1],
                                                        "radius_km": 5, "status": "customer"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html and 'id="nearby-form"' in html
    assert 'value="5" checked' in html and 'value="customer" selected' in html
    assert listed(response)


def test_row_has_one_tap_actions(client, hamburg):
    client.login("rep1@example.com")
    html = get_list(client, lat=RATHAUS[0], lon=RATHAUS[1], radius_km=1).get_data(as_text=True)
    customer = hamburg.places["Kaffeerösterei Speicherstadt"]
    assert f'href="tel:{customer.phone.replace(" ", "")}"' in html
    assert f'href="/customers/{customer.id}" data-action="open"' in html or \
        f'data-action="open" href="/customers/{customer.id}"' in html
    assert 'data-action="navigate" href="https://www.google.com/maps/dir/?api=1&amp;destination=53.5437%2C9.9886"' in html


def test_distance_is_locale_formatted(app):
    with app.test_request_context(), force_locale("de"):
        assert nearby.format_distance(850.4) == "850\u00a0m"
        assert nearby.format_distance(999.4) == "999\u00a0m"
        assert nearby.format_distance(999.6) == "1,0\u00a0km"
        assert nearby.format_distance(1234) == "1,2\u00a0km"
        assert nearby.format_distance(1250) == "1,3\u00a0km"
        assert nearby.format_distance(123_456) == "123,5\u00a0km"
        assert nearby.format_distance(1_234_567) == "1.234,6\u00a0km"
    with app.test_request_context(), force_locale("en"):
        assert nearby.format_distance(1234) == "1.2\u00a0km"
        assert nearby.format_distance(1_234_567) == "1,234.6\u00a0km"


def test_german_list_shows_german_distances(client, hamburg, db):
    hamburg.rep.locale = "de"
    db.session.commit()
    client.login("rep1@example.com")
    html = get_list(client, lat=RATHAUS[0], lon=RATHAUS[1], radius_km=5).get_data(as_text=True)
    assert "2,7\u00a0km" in html  # Altona, 2,733 m


BAD_POINTS = [
    {"lat": "91", "lon": "10"}, {"lat": "-90.5", "lon": "10"}, {"lat": "53", "lon": "180.01"},
    {"lat": "53", "lon": "-181"}, {"lat": "nan", "lon": "10"}, {"lat": "53", "lon": "NaN"},
    {"lat": "inf", "lon": "10"}, {"lat": "53", "lon": "-Infinity"}, {"lat": "1e999", "lon": "10"},
    {"lat": "abc", "lon": "10"}, {"lat": "53", "lon": ""}, {"lat": "", "lon": "10"},
    {"lat": "53,5", "lon": "10"}, {"lat": "0x10", "lon": "10"}, {"lat": "1_0", "lon": "10"},
    {"lat": "53.5", "lon": "10", "radius_km": "0"}, {"lat": "53.5", "lon": "10", "radius_km": "10000"},
    {"lat": "53.5", "lon": "10", "radius_km": "2"}, {"lat": "53.5", "lon": "10", "radius_km": "-5"},
    {"lat": "53.5", "lon": "10", "radius_km": "5.0"}, {"lat": "53.5", "lon": "10", "radius_km": "x"},
    {"lat": "53.5", "lon": "10", "status": "vip"}, {"lat": "53.5", "lon": "10", "abc": "D"},
    {}, {"home": "1"},
]


@pytest.mark.parametrize("params", BAD_POINTS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()) or "none")
def test_bad_input_is_400_with_a_message(client, hamburg, params):
    client.login("rep1@example.com")
    response = get_list(client, **params)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and 'id="nearby-error"' in html
    assert listed(response) == []
    page = client.get("/nearby/list", query_string=params)
    assert page.status_code == 400 and "<html" in page.get_data(as_text=True)


def test_bad_input_message_is_translated(client, hamburg, db):
    hamburg.rep.locale = "de"
    db.session.commit()
    client.login("rep1@example.com")
    html = get_list(client, lat="95", lon="10").get_data(as_text=True)
    assert "Der Breitengrad muss zwischen -90 und 90 liegen." in html
    html = get_list(client, lat="53", lon="10", radius_km="10000").get_data(as_text=True)
    assert "Wählen Sie einen Umkreis von 1, 5, 10, 25, 50 km." in html


def test_home_base_is_the_fallback(client, hamburg, db):
    rep = db.session.get(User, hamburg.rep.id)
    rep.home_lat, rep.home_lon = 53.6553, 9.7977  # Pinneberg
    db.session.commit()
    client.login("rep1@example.com")
    response = get_list(client, home="1")
    assert names_of(hamburg, listed(response))[0] == "Bäckerei Pinneberg"
    assert "to your home base" in response.get_data(as_text=True)
    assert "Use my home base" in client.get("/nearby").get_data(as_text=True)


def test_without_home_base_home_is_400(client, hamburg):
    client.login("rep1@example.com")
    response = get_list(client, home="1")
    assert response.status_code == 400
    assert "no home base" in response.get_data(as_text=True)
    assert "Use my home base" not in client.get("/nearby").get_data(as_text=True)


def test_typed_postal_code_uses_its_customers_centre(client, hamburg, make_customer):
    make_customer(name="Zweiter in Pinneberg", lat=53.6600, lon=9.8000, postal_code="25421",
                  city="Pinneberg", territory_id=hamburg.north.id)
    client.login("rep1@example.com")
    response = get_list(client, place=" 25421 ", lat="", lon="")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "25421 Pinneberg" in html
    centre = ((53.6553 + 53.66) / 2, (9.7977 + 9.8) / 2)
    rows = listed(response)
    first = hamburg.places["Bäckerei Pinneberg"]
    assert rows[0][1] == pytest.approx(distance_m(*centre, first.lat, first.lon), abs=0.5) or \
        rows[1][1] == pytest.approx(distance_m(*centre, first.lat, first.lon), abs=0.5)


def test_typed_place_wins_over_coordinates(client, hamburg):
    client.login("rep1@example.com")
    response = get_list(client, place="24103", lat=RATHAUS[0], lon=RATHAUS[1])
    assert names_of(hamburg, listed(response))[0] == "Werft Kiel"


def test_postal_code_of_other_territory_is_not_revealed(client, hamburg, monkeypatch):
    monkeypatch.setitem(sys.modules, "fieldcrm.geocoding", None)
    client.login("rep1@example.com")
    response = get_list(client, place=hamburg.other_customer.postal_code)  # 80331: other rep's
    assert response.status_code == 400
    assert "None of your customers has the postal code 80331" in response.get_data(as_text=True)


def test_address_without_geocoder_says_so(client, hamburg, monkeypatch):
    monkeypatch.setitem(sys.modules, "fieldcrm.geocoding", None)
    client.login("rep1@example.com")
    response = get_list(client, place="Jungfernstieg 1, Hamburg")
    assert response.status_code == 400
    assert "No place found for “Jungfernstieg 1, Hamburg”" in response.get_data(as_text=True)


def fake_geocoding(monkeypatch, **functions):
    module = types.ModuleType("fieldcrm.geocoding")
    for name, function in functions.items():
        setattr(module, name, function)
    monkeypatch.setitem(sys.modules, "fieldcrm.geocoding", module)
    return module


def test_address_goes_to_the_geocoder(client, hamburg, monkeypatch):
    asked = []
    fake_geocoding(monkeypatch, geocode_place=lambda text: asked.append(text) or (54.32, 10.12))
    client.login("rep1@example.com")
    response = get_list(client, place="Kiel  Hafen")
    assert asked == ["Kiel Hafen"]
    assert names_of(hamburg, listed(response))[0] == "Werft Kiel"


def test_geocoder_failure_is_a_message_not_a_500(client, hamburg, monkeypatch):
    def broken(text):
        raise TimeoutError("nominatim did not answer")

    fake_geocoding(monkeypatch, geocode_place=broken)
    client.login("rep1@example.com")
    response = get_list(client, place="Kiel Hafen")
    assert response.status_code == 400
    assert "not reachable right now" in response.get_data(as_text=True)


NOW = datetime(2026, 3, 25, 9, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Berlin


def test_due_for_a_visit():
    assert visit_due(None, NOW - timedelta(days=400), NOW) is None
    assert visit_due(14, NOW - timedelta(days=13, hours=23), NOW) is None
    assert visit_due(14, NOW - timedelta(days=14), NOW).overdue_days == 0
    assert visit_due(14, NOW - timedelta(days=17, hours=5), NOW).overdue_days == 3
    assert visit_due(14, None, NOW).overdue_days is None
    assert visit_due(None, None, NOW) is None


def test_row_badges_at_a_fixed_clock(app, make_customer):
    customer = make_customer(visit_interval_days=7, last_visited_at=NOW - timedelta(days=10),
                             opening_hours="Mo-Fr 08:00-12:00,13:00-17:00")
    row = nearby.row_for(customer, 1234.0, NOW)
    assert row.due.overdue_days == 3
    assert row.hours.is_open and row.hours.changes_at.hour == 12
    lunch = nearby.row_for(customer, 1234.0, NOW + timedelta(hours=2, minutes=30))
    assert not lunch.hours.is_open
    unknown = make_customer(opening_hours="nach Absprache", visit_interval_days=None)
    row = nearby.row_for(unknown, 10.0, NOW)
    assert row.due is None and row.hours is None


def test_list_shows_due_and_open_badges(client, hamburg, db):
    now = datetime.now(UTC)
    coffee = hamburg.places["Kaffeerösterei Speicherstadt"]
    coffee.visit_interval_days, coffee.last_visited_at = 7, now - timedelta(days=10, hours=1)
    coffee.opening_hours = "24/7"
    altona = hamburg.places["Fischhandel Altona"]
    altona.visit_interval_days, altona.opening_hours = 30, "off"
    wandsbek = hamburg.places["Blumen Wandsbek"]
    wandsbek.visit_interval_days, wandsbek.last_visited_at = 30, now - timedelta(days=2)
    db.session.commit()
    client.login("rep1@example.com")
    html = get_list(client, lat=RATHAUS[0], lon=RATHAUS[1], radius_km=10).get_data(as_text=True)
    rows = html.split('class="row nearby-row"')[1:]
    assert "Overdue by 3 days" in rows[0] and ">Open now<" in rows[0]
    assert "Due: never visited" in rows[1] and ">Closed<" in rows[1]
    assert 'data-badge="due"' not in rows[2] and 'data-badge="hours"' not in rows[2]


def test_reps_start_on_the_nearby_list(client, make_client, hamburg):
    client.login("rep1@example.com")
    assert client.get("/").headers["Location"].endswith("/nearby")
    manager = make_client()
    manager.login("manager@example.com")
    assert manager.get("/").headers["Location"].endswith("/customers")


def test_nearby_page_explains_before_asking(client, hamburg):
    client.login("rep1@example.com")
    html = client.get("/nearby").get_data(as_text=True)
    assert "Use my location" in html and "is not stored" in html
    assert 'id="nearby-list"' in html and "nearby-row" not in html


# The map's data


def bbox(south, west, north, east) -> str:
    return f"{south},{west},{north},{east}"


HAMBURG_BOX = bbox(53.3, 9.6, 53.8, 10.3)


def test_map_rows_in_the_box(client, hamburg):
    client.login("rep1@example.com")
    answer = client.get("/map/customers.json", query_string={"bbox": HAMBURG_BOX}).get_json()
    assert answer["mode"] == "rows"
    names = {item["name"] for item in answer["items"]}
    assert names == {n for n, (lat, lon, *_) in PLACES.items()
                     if 53.3 <= lat <= 53.8 and 9.6 <= lon <= 10.3}
    assert answer["total"] == len(names)
    item = answer["items"][0]
    assert set(item) == {"id", "name", "lat", "lon", "status", "abc_class"}


def test_map_filters(client, hamburg):
    client.login("rep1@example.com")
    answer = client.get("/map/customers.json",
                        query_string={"bbox": bbox(47, 5, 55, 16), "abc": "A"}).get_json()
    assert {i["abc_class"] for i in answer["items"]} == {"A"}
    answer = client.get("/map/customers.json",
                        query_string={"bbox": bbox(47, 5, 55, 16), "status": "lead"}).get_json()
    assert {i["status"] for i in answer["items"]} == {"lead"}


def test_map_above_the_cap_returns_grid_counts(client, hamburg, app):
    app.config["MAP_MAX_MARKERS"] = 3
    client.login("rep1@example.com")
    answer = client.get("/map/customers.json", query_string={"bbox": bbox(47, 5, 55, 16)}).get_json()
    assert answer["mode"] == "grid" and answer["cap"] == 3
    assert answer["total"] == len(PLACES)  # every customer counted, none dropped
    for cluster in answer["clusters"]:
        south, west, north, east = cluster["bounds"]
        assert south <= cluster["lat"] <= north and west <= cluster["lon"] <= east
        assert cluster["count"] >= 1
    assert "Fremdkunde" not in str(answer)


def test_map_shows_pins_when_few_of_many_are_in_scope(make_client, hamburg, app):
    app.config["MAP_MAX_MARKERS"] = 3
    other = make_client()
    other.login("rep2@example.com")  # the box holds 10 customers, 2 of them this rep's
    answer = other.get("/map/customers.json", query_string={"bbox": bbox(47, 5, 55, 16)}).get_json()
    assert answer["mode"] == "rows"
    assert {i["name"] for i in answer["items"]} == {"Fremdkunde Rathausmarkt", "Metzgerei Huber"}


@pytest.mark.parametrize("value", [
    None, "", "1,2,3", "1,2,3,4,5", "a,b,c,d", "nan,0,1,1", "0,0,inf,1", "-91,0,1,1", "0,-181,1,1",
    "10,0,5,1", "0,10,1,5",
])
def test_map_bad_bbox_is_400_json(client, hamburg, value):
    client.login("rep1@example.com")
    query = {} if value is None else {"bbox": value}
    response = client.get("/map/customers.json", query_string=query)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]


def test_map_bad_filter_is_400_json(client, hamburg):
    client.login("rep1@example.com")
    response = client.get("/map/customers.json", query_string={"bbox": HAMBURG_BOX, "status": "x"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_request"


def test_map_page_uses_configured_tiles(client, hamburg, app):
    app.config["TILE_URL"] = "https://tiles.example.com/{z}/{x}/{y}.png"
    app.config["TILE_ATTRIBUTION"] = "&copy; Example Tiles"
    client.login("rep1@example.com")
    html = client.get("/map").get_data(as_text=True)
    assert 'data-tile-url="https://tiles.example.com/{z}/{x}/{y}.png"' in html
    assert 'data-attribution="&amp;copy; Example Tiles"' in html


def test_popup_has_the_quick_actions(client, hamburg):
    client.login("rep1@example.com")
    customer = hamburg.places["Fischhandel Altona"]
    html = client.get(f"/map/customers/{customer.id}/popup").get_data(as_text=True)
    assert "Fischhandel Altona" in html and 'data-action="navigate"' in html
    assert 'data-action="call"' in html and 'data-action="open"' in html


def test_new_customer_here_with_reverse_geocoding(client, hamburg, monkeypatch):
    fake_geocoding(monkeypatch, reverse_geocode=lambda lat, lon: {
        "street": "Große Elbstraße 212", "postal_code": "22767", "city": "Hamburg", "country": "DE"})
    client.login("rep1@example.com")
    response = client.get("/map/new-here", query_string={"lat": "53.5446", "lon": "9.9524"})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/customers/new?")
    for part in ("lat=53.544600", "lon=9.952400", "street=Gro%C3%9Fe+Elbstra%C3%9Fe+212",
                 "postal_code=22767", "city=Hamburg", "country=DE"):
        assert part in location


def test_new_customer_here_without_geocoder(client, hamburg, monkeypatch):
    monkeypatch.setitem(sys.modules, "fieldcrm.geocoding", None)
    client.login("rep1@example.com")
    response = client.get("/map/new-here", query_string={"lat": "53.5446", "lon": "9.9524"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/customers/new?lat=53.544600&lon=9.952400"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not be looked up" in page


def test_new_customer_here_when_reverse_geocoding_fails(client, hamburg, monkeypatch):
    def broken(lat, lon):
        raise ConnectionError("no network")

    fake_geocoding(monkeypatch, reverse_geocode=broken)
    client.login("rep1@example.com")
    response = client.get("/map/new-here", query_string={"lat": "53.5446", "lon": "9.9524"})
    assert response.headers["Location"] == "/customers/new?lat=53.544600&lon=9.952400"


@pytest.mark.parametrize("params", [{}, {"lat": "95", "lon": "9"}, {"lat": "nan", "lon": "9"},
                                    {"lat": "53", "lon": "x"}])
def test_new_customer_here_bad_position_is_400(client, hamburg, params):
    client.login("rep1@example.com")
    response = client.get("/map/new-here", query_string=params)
    assert response.status_code == 400

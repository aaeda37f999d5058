"""GET /api/v1/customers?near=lat,lon: the nearest customers in the caller's scope, exactly.

Every answer is compared with a brute-force geopy ranking of the customers the caller
may see; bad input is a 422 in the API's error shape, in the caller's language.
"""

import random
import uuid

import pytest
from geopy.distance import geodesic
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from fieldcrm.api.serialize import customer_json
from fieldcrm.auth import create_api_token
from fieldcrm.customers.queries import encode_cursor
from fieldcrm.models import Customer

API = "/api/v1/customers"
HAMBURG = (53.55, 9.99)


@pytest.fixture
def area(world, db):
    """150 customers around Hamburg in the rep's territory, 40 in the other rep's, a few
    without coordinates or deleted; tokens for everyone."""
    rng = random.Random(11)
    north = [Customer(name=f"Nord {i}", lat=rng.uniform(53.3, 53.8), lon=rng.uniform(9.6, 10.4),
                      territory_id=world.north.id, status=rng.choice(["customer", "lead"]),
                      abc_class=rng.choice(["A", "B", "C", None]),
                      owner_id=world.rep.id if i % 7 == 0 else None) for i in range(150)]
    south = [Customer(name=f"Süd {i}", lat=rng.uniform(53.3, 53.8), lon=rng.uniform(9.6, 10.4),
                      territory_id=world.south.id) for i in range(40)]
    # Two customers on one point: the tie goes to the older one (lower seq).
    twin = Customer(name="Nord Zwilling", lat=north[0].lat, lon=north[0].lon,
                    territory_id=world.north.id, status=north[0].status)
    hidden = [Customer(name="Nord ohne Ort", territory_id=world.north.id),
              Customer(name="Nord gelöscht", lat=53.55, lon=9.99, territory_id=world.north.id,
                       deleted=True)]
    db.session.add_all(north + south + [twin] + hidden)
    db.session.commit()
    world.tokens = {role: create_api_token(getattr(world, role), "test")[1]
                    for role in ("rep", "other_rep", "manager", "admin")}
    world.hidden = {str(c.id) for c in hidden}
    world.south_ids = {str(c.id) for c in south} | {str(world.other_customer.id)}
    return world


def visible(db, user) -> list[Customer]:
    """The live located customers ``user`` may see, read without the search."""
    from fieldcrm.scope import customer_scope

    return [c for c in db.session.query(Customer).filter(customer_scope(user)).all()
            if not c.deleted and c.lat is not None]


def brute_force(customers, lat, lon, limit=None, radius_m=None):
    """(customer, metres) nearest first by geopy, ties by seq: what the API must answer."""
    ranked = sorted(((geodesic((lat, lon), (c.lat, c.lon)).meters, c.seq, c) for c in customers),
                    key=lambda hit: hit[:2])
    if radius_m is not None:
        ranked = [hit for hit in ranked if hit[0] <= radius_m]
    return [(c, d) for d, _, c in ranked[:limit]]


def near(client, token, lat, lon, **params):
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return client.api("GET", f"{API}?near={lat},{lon}" + (f"&{query}" if query else ""),
                      token=token)


def assert_same(response, expected):
    assert response.status_code == 200, response.json
    body = response.json
    assert body["next"] is None
    assert [item["id"] for item in body["items"]] == [str(c.id) for c, _ in expected]
    assert [item["distance_m"] for item in body["items"]] == pytest.approx(
        [d for _, d in expected], abs=0.051)


def test_nearest_equal_brute_force_for_every_role(client, area, db):
    rng = random.Random(5)
    for role in ("admin", "manager", "rep", "other_rep"):
        user = getattr(area, role)
        customers = visible(db, user)
        for _ in range(6):
            lat, lon = round(rng.uniform(53.2, 53.9), 6), round(rng.uniform(9.5, 10.5), 6)
            assert_same(near(client, area.tokens[role], lat, lon),
                        brute_force(customers, lat, lon, limit=20))


def test_items_are_the_customer_representation_plus_distance(client, area, db):
    body = near(client, area.tokens["rep"], *HAMBURG, limit=5).json
    first = db.session.get(Customer, uuid.UUID(body["items"][0]["id"]))
    item = body["items"][0]
    assert {k: v for k, v in item.items() if k != "distance_m"} == customer_json(first)
    assert isinstance(item["distance_m"], float)
    assert item["distance_m"] == round(item["distance_m"], 1)


def test_ties_go_to_the_older_customer(client, area, db):
    first = db.session.query(Customer).filter_by(name="Nord 0").one()
    twin = db.session.query(Customer).filter_by(name="Nord Zwilling").one()
    items = near(client, area.tokens["rep"], first.lat, first.lon, limit=2).json["items"]
    assert [i["id"] for i in items] == [str(first.id), str(twin.id)]
    assert [i["distance_m"] for i in items] == [0.0, 0.0]


def test_limit_default_and_maximum(client, area, db):
    token = area.tokens["admin"]
    assert len(near(client, token, *HAMBURG).json["items"]) == 20
    assert len(near(client, token, *HAMBURG, limit=3).json["items"]) == 3
    everyone = brute_force(visible(db, area.admin), *HAMBURG, limit=100)
    assert_same(near(client, token, *HAMBURG, limit=500), everyone)


@pytest.mark.parametrize("radius_km", ["5", "2.5", "50"])
def test_radius_gives_all_within_nearest_first(client, area, db, radius_km):
    customers = visible(db, area.rep)
    expected = brute_force(customers, *HAMBURG, limit=100, radius_m=float(radius_km) * 1000)
    response = near(client, area.tokens["rep"], *HAMBURG, radius_km=radius_km, limit=100)
    assert_same(response, expected)
    small = near(client, area.tokens["rep"], *HAMBURG, radius_km=radius_km, limit=4)
    assert_same(small, expected[:4])


@pytest.mark.parametrize("params", [
    {"status": "lead"}, {"abc_class": "A"}, {"status": "customer", "abc_class": "B"},
    {"q": "Nord 1"}, {"owner": True}, {"status": "lead", "radius_km": "10"},
])
def test_filters_combine_with_near(client, area, db, params):
    params = dict(params)
    if params.pop("owner", False):
        params["owner_id"] = str(area.rep.id)
    radius_km = params.get("radius_km")
    customers = [c for c in visible(db, area.rep)
                 if c.status == params.get("status", c.status)
                 and c.abc_class == params.get("abc_class", c.abc_class)
                 and params.get("q", "").lower() in c.name.lower()
                 and str(c.owner_id) == params.get("owner_id", str(c.owner_id))]
    expected = brute_force(customers, *HAMBURG, limit=20,
                           radius_m=float(radius_km) * 1000 if radius_km else None)
    assert expected
    assert_same(near(client, area.tokens["rep"], *HAMBURG, **params), expected)


@pytest.mark.parametrize("how", ["bearer", "session"])
def test_a_rep_never_sees_another_territory(client, make_client, area, how):
    if how == "session":
        client.login("rep1@example.com")
        token = None
    else:
        token = area.tokens["rep"]
    other = area.other_customer
    for params in ({"limit": 100}, {"radius_km": "50", "limit": 100}):
        body = near(client, token, other.lat, other.lon, **params).json
        ids = {item["id"] for item in body["items"]}
        assert ids and not ids & area.south_ids
        assert not ids & area.hidden
    # The other rep standing at the same point sees only their own.
    body = near(make_client(), area.tokens["other_rep"], other.lat, other.lon, limit=100).json
    assert {item["id"] for item in body["items"]} <= area.south_ids


def test_anonymous_is_refused(make_client, area):
    response = make_client().get(f"{API}?near=53.55,9.99")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


BAD = [
    ("near=91,10", "near"), ("near=-90.5,10", "near"), ("near=53,180.01", "near"),
    ("near=53,-181", "near"), ("near=nan,10", "near"), ("near=53,NaN", "near"),
    ("near=inf,10", "near"), ("near=1e999,10", "near"), ("near=abc,10", "near"),
    ("near=53", "near"), ("near=53,", "near"), ("near=,10", "near"), ("near=", "near"),
    ("near=53,10,5", "near"), ("near=0x10,10", "near"), ("near=53;10", "near"),
    ("near=53.5,10&radius_km=0", "radius_km"), ("near=53.5,10&radius_km=-5", "radius_km"),
    ("near=53.5,10&radius_km=10000", "radius_km"), ("near=53.5,10&radius_km=abc", "radius_km"),
    ("near=53.5,10&radius_km=nan", "radius_km"), ("near=53.5,10&radius_km=", "radius_km"),
    ("near=53.5,10&radius_km=1e3", "radius_km"), ("near=53.5,10&radius_km=50.0001", "radius_km"),
    ("radius_km=10", "near"), ("near=53.5,10&cursor=abc", "cursor"),
    (f"near=53.5,10&cursor={encode_cursor('Nord', uuid.UUID(int=1))}", "cursor"),
    ("near=53.5,10&limit=0", "limit"), ("near=53.5,10&limit=x", "limit"),
    ("near=53.5,10&status=gone", "status"), ("near=53.5,10&owner_id=x", "owner_id"),
]


def test_bad_input_is_a_422_naming_the_parameter(client, area):
    # One test for every case: the area's data is made once, not 31 times per database.
    for query, field in BAD:
        response = client.api("GET", f"{API}?{query}", token=area.tokens["rep"])
        assert response.status_code == 422, (query, response.json)
        error = response.json["error"]
        assert error["code"] == "validation_failed", query
        assert field in error["fields"], query


def test_errors_speak_the_users_language(client, area, db):
    area.rep.locale = "de"
    db.session.commit()
    cursor = encode_cursor("Nord 1", uuid.uuid4())
    fields = client.api("GET", f"{API}?near=91,10&radius_km=0&cursor={cursor}",
                        token=area.tokens["rep"]).json["error"]["fields"]
    assert fields["near"] == "Der Breitengrad muss zwischen -90 und 90 liegen."
    assert fields["radius_km"] == ("Der Radius muss eine Zahl in Kilometern über 0 und "
                                   "höchstens 50 sein.")
    assert fields["cursor"] == "Eine Umkreissuche hat keine Seiten: Lassen Sie cursor weg."
    fields = client.api("GET", f"{API}?radius_km=5", token=area.tokens["rep"]).json["error"]["fields"]
    assert fields["near"].startswith("Ein Radius braucht eine Position")


def test_without_near_the_list_is_paged_as_before(client, area):
    body = client.api("GET", f"{API}?limit=5", token=area.tokens["rep"]).json
    assert len(body["items"]) == 5 and body["next"]
    assert "distance_m" not in body["items"][0]


def _validator(document, *location):
    registry = Registry().with_resource("urn:doc", Resource(document, DRAFT202012))
    pointer = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in location)
    return Draft202012Validator({"$ref": "urn:doc#" + pointer}, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_openapi_describes_near(client, area):
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"][API]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"near", "radius_km", "status", "abc_class", "q", "owner_id", "limit"} <= set(parameters)
    assert parameters["radius_km"]["schema"] == {"type": "number", "exclusiveMinimum": 0,
                                                 "maximum": 50}
    ok = _validator(document, "paths", API, "get", "responses", "200", "content",
                    "application/json", "schema")
    for query in ("near=53.55,9.99", "near=53.55,9.99&radius_km=1&limit=2", "limit=2",
                  "near=-53.55,-9.99&radius_km=0.5"):
        ok.validate(client.api("GET", f"{API}?{query}", token=area.tokens["rep"]).json)
    near_item = _validator(document, "components", "schemas", "CustomerNear")
    near_item.validate(near(client, area.tokens["rep"], *HAMBURG).json["items"][0])
    failed = _validator(document, "components", "responses", "ValidationFailed", "content",
                        "application/json", "schema")
    failed.validate(client.api("GET", f"{API}?near=x", token=area.tokens["rep"]).json)
    pattern = parameters["near"]["schema"]["pattern"]
    Draft202012Validator({"type": "string", "pattern": pattern}).validate("53.55, 9.99")


@pytest.mark.parametrize("point", ["90,0", "-90,180", "0,-180", "53.55,179.999999", "+53.55,-9.99"])
def test_edges_of_the_globe_answer(client, area, db, point):
    lat, lon = (float(part) for part in point.split(","))
    response = client.api("GET", f"{API}?near={point}&limit=5", token=area.tokens["admin"])
    assert_same(response, brute_force(visible(db, area.admin), lat, lon, limit=5))

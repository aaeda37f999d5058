"""On a phone in Hamburg, a rep opens the app and sees the nearest customers first; without
location access the home base or a typed postal code takes over; the map clusters the
customers over tiles from a local stand-in tile server."""

import re
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from fieldcrm.models import Customer, User

JUNGFERNSTIEG = {"latitude": 53.5531, "longitude": 9.9925}
HAFENCITY = {"latitude": 53.5413, "longitude": 10.0005}
CUSTOMERS = [  # name, lat, lon, postal code, city, phone
    ("Alsterpavillon Kaffee", 53.5535, 9.9921, "20354", "Hamburg", "+49 40 111"),
    ("Buchhandlung Colonnaden", 53.5561, 9.9890, "20354", "Hamburg", "+49 40 222"),
    ("Elbphilharmonie Shop", 53.5413, 9.9841, "20457", "Hamburg", "+49 40 333"),
    ("Fischhandel Altona", 53.5446, 9.9524, "22767", "Hamburg", ""),
    ("Blumen Wandsbek", 53.5717, 10.0684, "22041", "Hamburg", "+49 40 444"),
    ("HafenCity Feinkost", 53.5414, 10.0007, "20457", "Hamburg", "+49 40 555"),
    ("Bäckerei Pinneberg", 53.6553, 9.7977, "25421", "Pinneberg", "+49 4101 1"),
    ("Werft Kiel", 54.3233, 10.1228, "24103", "Kiel", "+49 431 1"),
]


def assert_fits_the_phone(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def _png(width: int = 256, height: int = 256) -> bytes:
    """A light grey tile with a darker border, so tile seams show in screenshots."""
    light, line = b"\xe6\xea\xee", b"\xc8\xcf\xd6"
    rows = b"".join(b"\x00" + (line * width if y in (0, height - 1) else
                               line + light * (width - 2) + line) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def tile_server():
    """A stand-in tile server: one PNG for any /{z}/{x}/{y}.png, counting the requests."""
    tile = _png()
    seen: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if not re.fullmatch(r"/\d+/\d+/\d+\.png", self.path):
                self.send_error(404)
                return
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, name="tiles", daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.seen = seen
    yield server
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def local_tiles(live_server, tile_server):
    """The live app draws its map from the stand-in tile server (config TILE_URL)."""
    config = live_server.app.config
    before = config["TILE_URL"], config["TILE_ATTRIBUTION"]
    config["TILE_URL"] = tile_server.url + "/{z}/{x}/{y}.png"
    config["TILE_ATTRIBUTION"] = "&copy; Test tiles"
    yield tile_server
    config["TILE_URL"], config["TILE_ATTRIBUTION"] = before


@pytest.fixture
def no_geocoder(live_server):
    """No address search on the live app: a typed postal code is placed from the database only."""
    config = live_server.app.config
    before = config.get("GEOCODER")
    config["GEOCODER"] = ""
    yield
    config["GEOCODER"] = before


@pytest.fixture
def hamburg(world, make_customer, db):
    for n, (name, lat, lon, postal_code, city, phone) in enumerate(CUSTOMERS):
        make_customer(name=name, lat=lat, lon=lon, postal_code=postal_code, city=city, phone=phone,
                      territory_id=world.north.id, abc_class="ABC"[n % 3],
                      status=("customer", "prospect", "at_risk")[n % 3],
                      visit_interval_days=14 if n == 0 else None,
                      opening_hours="24/7" if n == 0 else "")
    # Closer to the rep than any of theirs, but another territory's: never shown to them.
    make_customer(name="Fremdkunde Jungfernstieg", lat=53.5532, lon=9.9926, postal_code="20354",
                  territory_id=world.south.id, owner_id=world.other_rep.id)
    world.customer.lat, world.customer.lon = None, None
    db.session.commit()
    return world


def phone_in_hamburg(new_page, live_server, position=JUNGFERNSTIEG, granted=True):
    page = new_page()
    if granted:
        page.context.grant_permissions(["geolocation"], origin=live_server.url)
        page.context.set_geolocation(position)
    return page


def test_rep_with_location_sees_nearest_customer_first(hamburg, new_page, live_server, log_in,
                                                       artifacts):
    page = phone_in_hamburg(new_page, live_server)
    log_in(page, "rep1@example.com")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/nearby$"))

    rows = page.locator("#nearby-rows .nearby-row")
    expect(rows.first).to_contain_text("Alsterpavillon Kaffee")
    expect(rows).to_have_count(len(CUSTOMERS))
    expect(rows.nth(1)).to_contain_text("Buchhandlung Colonnaden")
    expect(page.locator("#nearby-list")).not_to_contain_text("Fremdkunde")
    first = rows.first
    expect(first.locator(".distance")).to_have_text("52\u00a0m")  # geodesic 51.8 m
    expect(first.locator("[data-badge=due]")).to_have_text("Due: never visited")
    expect(first.locator("[data-badge=hours]")).to_have_text("Open now")
    expect(first.get_by_role("link", name="Call")).to_have_attribute("href", "tel:+4940111")
    expect(first.get_by_role("link", name="Navigate")).to_have_attribute("href", re.compile("destination=53.5535"))
    expect(page.locator("#nearby-origin")).to_contain_text("your position")
    expect(page.get_by_role("button", name="Use my location")).to_be_hidden()
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "nearby_gps.png")

    # The rep drives to the HafenCity (1.4 km): the list follows without a tap.
    page.context.set_geolocation(HAFENCITY)
    expect(rows.first).to_contain_text("HafenCity Feinkost")

    # Radius chip: only what is within 1 km of here.
    with page.expect_response(lambda r: "radius_km=1&" in r.url or r.url.endswith("radius_km=1")):
        page.locator("label.chip", has_text="1\u00a0km").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#nearby-summary")).to_contain_text("1 customer within 1 km of your location")
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "nearby_radius.png", full_page=True)

    first.get_by_role("link", name="Open").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("HafenCity Feinkost")


def test_german_phone_gets_german_list(hamburg, new_page, live_server, log_in, db, artifacts):
    rep = db.session.get(User, hamburg.rep.id)
    rep.locale = "de"
    db.session.commit()
    page = new_page()  # logs in in English; the rep's own setting then switches to German
    page.context.grant_permissions(["geolocation"], origin=live_server.url)
    page.context.set_geolocation(HAFENCITY)
    log_in(page, "rep1@example.com")
    page.goto("/nearby")
    rows = page.locator("#nearby-rows .nearby-row")
    expect(rows.first).to_contain_text("HafenCity Feinkost")
    expect(rows.nth(1).locator(".distance")).to_have_text("1,1\u00a0km")  # Elbphilharmonie, 1,076 m
    expect(page.locator("#nearby-summary")).to_contain_text("nächstgelegenen Kunden, von Ihrem Standort aus")
    expect(page.get_by_role("link", name="Öffnen").first).to_be_visible()
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "nearby_de.png")


def test_denied_location_falls_back_to_home_base(hamburg, new_page, live_server, log_in, db,
                                                 no_geocoder, artifacts):
    rep = db.session.get(User, hamburg.rep.id)
    rep.home_lat, rep.home_lon = 53.6560, 9.7990  # Pinneberg
    db.session.commit()
    page = phone_in_hamburg(new_page, live_server, granted=False)
    log_in(page, "rep1@example.com")
    page.goto("/nearby")
    prompt = page.locator("#nearby-origin")
    expect(prompt).to_contain_text("Your browser will ask once")
    expect(page.get_by_role("button", name="Use my location")).to_be_visible()
    expect(page.get_by_role("button", name="Use my home base")).to_be_visible()
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "nearby_prompt.png")

    page.get_by_role("button", name="Use my location").click()
    expect(prompt).to_contain_text("Location access is blocked")
    rows = page.locator("#nearby-rows .nearby-row")
    expect(rows.first).to_contain_text("Bäckerei Pinneberg")
    expect(page.locator("#nearby-summary")).to_contain_text("to your home base")
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "nearby_denied_home.png")

    # A typed postal code takes over (placed at its customers' centre, no network needed).
    page.get_by_label("Search near a postal code or address").fill("24103")
    page.get_by_role("button", name="Search here").click()
    expect(rows.first).to_contain_text("Werft Kiel")
    expect(page.locator("#nearby-summary")).to_contain_text("24103 Kiel")


def test_denied_location_without_home_base_asks_for_a_postal_code(hamburg, new_page, live_server,
                                                                  log_in, no_geocoder, artifacts):
    page = phone_in_hamburg(new_page, live_server, granted=False)
    log_in(page, "rep1@example.com")
    page.goto("/nearby")
    expect(page.get_by_role("button", name="Use my home base")).to_have_count(0)
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#nearby-origin")).to_contain_text("Type a postal code or address below")
    place = page.get_by_label("Search near a postal code or address")
    expect(place).to_be_focused()

    place.fill("99999")
    page.get_by_role("button", name="Search here").click()
    expect(page.locator("#nearby-error")).to_contain_text("None of your customers has the postal code 99999")
    page.screenshot(path=artifacts / "nearby_unknown_postal_code.png")

    place.fill("20457")
    place.press("Enter")
    rows = page.locator("#nearby-rows .nearby-row")
    expect(rows.first).to_contain_text(re.compile("Elbphilharmonie Shop|HafenCity Feinkost"))
    expect(page.locator("#nearby-error")).to_have_count(0)
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "nearby_postal_code.png")


def test_map_clusters_customers_over_local_tiles(hamburg, make_customer, new_page, live_server,
                                                 log_in, local_tiles, artifacts):
    for n in range(40):  # a dense block of shops around the Mönckebergstraße
        make_customer(name=f"Laden {n:02d}", lat=53.5500 + (n % 8) * 0.0006,
                      lon=9.9950 + (n // 8) * 0.0008, postal_code="20095", city="Hamburg",
                      territory_id=hamburg.north.id, abc_class="AB"[n % 2])
    page = phone_in_hamburg(new_page, live_server, granted=False)
    log_in(page, "rep1@example.com")
    page.goto("/map")

    clusters = page.locator(".marker-cluster")
    expect(clusters.first).to_be_visible()
    assert clusters.count() >= 1
    expect(page.locator("#map-status")).to_have_text(f"{len(CUSTOMERS) + 40} customers in this area")
    expect(page.locator(".leaflet-tile-loaded").first).to_be_visible()
    assert local_tiles.seen, "the map did not ask the configured tile server"
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("© Test tiles")
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "map_clusters.png")

    # Tapping a cluster zooms in until the shops show as single pins.
    shops = page.locator(".leaflet-marker-icon.pin[title^='Laden']")
    for _ in range(4):
        if shops.count():
            break
        page.locator(".marker-cluster").first.click()
        page.wait_for_timeout(800)
    expect(shops.first).to_be_visible()
    page.screenshot(path=artifacts / "map_zoomed.png")

    # A pin's popup has the same quick actions as the list.
    shops.first.click()
    popup = page.locator(".leaflet-popup .map-popup")
    expect(popup).to_be_visible()
    expect(popup.get_by_role("link", name="Open")).to_be_visible()
    expect(popup.get_by_role("link", name="Navigate")).to_be_visible()
    page.screenshot(path=artifacts / "map_popup.png")

    # Colour by ABC class: pins change colour, the legend follows.
    page.locator(".segmented label", has_text="ABC").click()
    expect(page.locator(".leaflet-marker-icon.pin[class*='pin-abc-']").first).to_be_visible()
    expect(page.locator(".legend-abc")).to_be_visible()
    expect(page.locator(".legend-status")).to_be_hidden()


def test_map_above_the_cap_shows_server_counts(hamburg, new_page, live_server, log_in,
                                               local_tiles, artifacts):
    config = live_server.app.config
    before = config["MAP_MAX_MARKERS"]
    config["MAP_MAX_MARKERS"] = 3
    try:
        page = phone_in_hamburg(new_page, live_server, granted=False)
        log_in(page, "rep1@example.com")
        page.goto("/map")
        expect(page.locator(".server-cluster").first).to_be_visible()
        expect(page.locator("#map-status")).to_contain_text("zoom in to see single pins")
        total = sum(int(t) for t in page.locator(".server-cluster span").all_inner_texts())
        assert total == len(CUSTOMERS)
        page.screenshot(path=artifacts / "map_grid.png")
    finally:
        config["MAP_MAX_MARKERS"] = before


def test_new_customer_here_opens_the_form_at_the_position(hamburg, new_page, live_server, log_in,
                                                          local_tiles, artifacts):
    page = phone_in_hamburg(new_page, live_server)
    log_in(page, "rep1@example.com")
    page.goto("/map")
    button = page.locator("#map-new-here")
    expect(button).to_have_text("New customer at my position")
    expect(button).to_have_attribute("href", re.compile(r"/map/new-here\?lat=53\.553100&lon=9\.992500$"))
    expect(page.locator(".you-are-here")).to_be_visible()
    expect(page.locator("#map-crosshair")).to_be_hidden()
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "map_gps.png")


def test_rep_drags_the_pin_to_correct_the_location(world, new_page, log_in, local_tiles, db, artifacts):
    page = new_page()
    log_in(page, "rep1@example.com")
    page.goto(f"/customers/{world.customer.id}")
    pin = page.locator("#customer-pin .leaflet-marker-icon")
    expect(pin).to_be_visible()
    expect(page.locator("#geocode-status")).not_to_contain_text("Pin set by hand")
    box = pin.bounding_box()
    start_x, start_y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 4
    page.mouse.move(start_x, start_y)
    page.mouse.down()
    page.mouse.move(start_x + 30, start_y + 20, steps=5)
    page.mouse.move(start_x + 60, start_y + 40, steps=5)
    page.mouse.up()
    expect(page.locator("#geocode-status")).to_contain_text("Pin set by hand")
    page.screenshot(path=artifacts / "customer_pin_moved.png")
    db.session.expire_all()
    customer = db.session.get(Customer, world.customer.id)
    assert customer.geocode_status == "manual"
    assert customer.lat < 53.55 and customer.lon > 9.99  # dragged down and right

"""The installable app's server side: manifest, service worker (versioned by content), shell."""

import base64
import hashlib
import json
import re
import shutil
import struct
from pathlib import Path

import pytest

from fieldcrm.routes import pwa

RELEASE_LINE = re.compile(r"/\*__FIELDCRM_RELEASE__\*/ (\{.*\});")


def release_of(response) -> dict:
    """The RELEASE object the server put into the service worker."""
    return json.loads(RELEASE_LINE.search(response.get_data(as_text=True)).group(1))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_manifest_makes_the_app_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(response.get_data(as_text=True))
    assert manifest["name"] == "fieldcrm" and manifest["short_name"] == "fieldcrm"
    assert manifest["description"]
    assert manifest["start_url"] == "/nearby" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    css = Path(client.application.static_folder, "css", "app.css").read_text()
    assert f"--accent: {manifest['theme_color']}" in css
    assert f"--bg: {manifest['background_color']}" in css
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == "image/png"
        width, height = png_size(image.data)
        assert f"{width}x{height}" == icon["sizes"]
        image.close()


def test_manifest_speaks_the_browsers_language(client):
    manifest = client.get("/manifest.webmanifest", headers={"Accept-Language": "de"}).get_json(force=True)
    assert manifest["lang"] == "de"


def test_service_worker_is_served_for_the_root_scope(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Service-Worker-Allowed"] == "/"
    release = release_of(response)
    assert re.fullmatch(r"[0-9a-f]{16}", release["version"])
    assert release["shell"] == "/offline"
    assert release["navigationTimeoutMs"] == 3000


def test_precache_lists_the_static_files_with_their_hashes(client):
    release = release_of(client.get("/sw.js"))
    urls = {entry["url"]: entry["integrity"] for entry in release["precache"]}
    for needed in ("/static/css/app.css", "/static/js/pwa.js", "/static/js/db.js", "/static/js/sync.js",
                   "/static/js/syncLogic.js", "/static/icons/icon-192.png"):
        assert needed in urls, needed
    assert "/static/js/sw.js" not in urls
    assert not any(url.endswith((".d.ts", ".cjs")) for url in urls)
    for url, integrity in urls.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert integrity == "sha256-" + base64.b64encode(hashlib.sha256(response.data).digest()).decode()
        response.close()


@pytest.fixture
def own_static(app, tmp_path):
    """The app serving a copy of its static folder that the test may change."""
    original = app.static_folder
    copy = tmp_path / "static"
    (copy / "js").mkdir(parents=True)
    shutil.copy(Path(original, "js", "sw.js"), copy / "js" / "sw.js")
    (copy / "js" / "app.js").write_text("console.log('one');\n")
    app.static_folder = str(copy)
    app.extensions.pop("fieldcrm.pwa", None)
    yield copy
    app.static_folder = original
    app.extensions.pop("fieldcrm.pwa", None)


def test_version_changes_whenever_a_static_file_changes(client, own_static):
    first = release_of(client.get("/sw.js"))
    assert release_of(client.get("/sw.js"))["version"] == first["version"]
    (own_static / "js" / "app.js").write_text("console.log('two, and longer');\n")
    second = release_of(client.get("/sw.js"))
    assert second["version"] != first["version"]
    assert second["precache"] != first["precache"]
    (own_static / "css").mkdir()
    (own_static / "css" / "new.css").write_text("body { color: red; }\n")
    third = release_of(client.get("/sw.js"))
    assert third["version"] != second["version"]
    assert "/static/css/new.css" in {entry["url"] for entry in third["precache"]}


def test_version_is_computed_once_while_nothing_changes(client, own_static, monkeypatch):
    client.get("/sw.js")
    scans = []
    real = pwa.scan_release
    monkeypatch.setattr(pwa, "scan_release", lambda *roots: scans.append(roots) or real(*roots))
    for _ in range(3):
        client.get("/sw.js")
    assert scans == []


def test_version_covers_the_templates(tmp_path):
    static, templates = tmp_path / "static", tmp_path / "templates"
    (static / "js").mkdir(parents=True)
    templates.mkdir()
    shutil.copy(Path(__file__).parent.parent / "fieldcrm" / "static" / "js" / "sw.js", static / "js" / "sw.js")
    (templates / "base.html").write_text("<html>one</html>")
    before = pwa.scan_release(static, templates).version
    (templates / "base.html").write_text("<html>two</html>")
    assert pwa.scan_release(static, templates).version != before


def test_a_worker_without_its_release_line_is_refused(tmp_path):
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "sw.js").write_text("const RELEASE = {};\n")
    with pytest.raises(RuntimeError):
        pwa.scan_release(tmp_path, tmp_path / "nothing")


def test_offline_shell_is_for_logged_in_users_and_matches_the_release(client, world):
    anonymous = client.get("/offline")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    client.login("rep1@example.com")
    response = client.get("/offline")
    assert response.status_code == 200
    assert response.headers["X-Fieldcrm-Version"] == release_of(client.get("/sw.js"))["version"]
    assert response.headers["X-Fieldcrm-User"] == str(world.rep.id)
    assert "private" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    assert 'id="offline-screen"' in html and 'class="offline-shell"' in html
    assert 'id="sync-status"' in html and f'data-user-id="{world.rep.id}"' in html
    assert 'rel="manifest"' in html


def test_offline_shell_neither_shows_nor_eats_flashed_messages(client, world, make_customer):
    client.login("rep1@example.com")
    customer = make_customer(territory_id=world.north.id, name="Flash GmbH")
    client.form(f"/customers/{customer.id}/edit", {"name": "Flash GmbH", "postal_code": "20095",
                                                    "city": "Hamburg", "country": "DE",
                                                    "status": "customer"})
    shell = client.get("/offline").get_data(as_text=True)
    assert 'class="flash' not in shell
    page = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert 'class="flash' in page


def test_session_tells_the_app_who_is_logged_in(client, world):
    anonymous = client.get("/app/session")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["code"] == "unauthorized"
    client.login("rep1@example.com")
    response = client.get("/app/session")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["user_id"] == str(world.rep.id)
    assert body["version"] == release_of(client.get("/sw.js"))["version"]
    push = client.http.post("/api/v1/sync/push", json={"client_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                                                       "mutations": []},
                            headers={"X-CSRFToken": body["csrf_token"]})
    assert push.status_code == 200


def test_every_page_links_the_app_and_logged_in_pages_have_the_status_line(client, world):
    login = client.get("/login").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in login
    assert 'rel="apple-touch-icon"' in login and 'name="theme-color"' in login
    assert '<script type="module" src="/static/js/pwa.js">' in login
    assert 'id="sync-status"' not in login
    client.login("rep1@example.com")
    page = client.get("/customers").get_data(as_text=True)
    status = re.search(r'<p id="sync-status"[^>]*>', page).group(0)
    assert "hidden" in status and 'data-synced="Synced {ago}"' in status
    assert 'data-waiting-other="{count} changes waiting"' in status
    assert 'id="pwa-update"' in page and "A new version is available — reload" in page

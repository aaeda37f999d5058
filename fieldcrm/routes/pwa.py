"""The installable app: web app manifest, service worker, offline shell, the device's session.

The service worker's precache is versioned by the content of the app: the version is a
hash over every static file and every template (the offline shell and the screens built
on it reuse the server's markup), so any change to them rolls out a new version and the
old cache is never mixed with new files. The hash is computed once and reused for as long
as no file's size or modification time changes (a cheap ``stat`` walk per /sw.js request,
so a deployment that swaps files without a restart is noticed too). See docs/SYNC.md.
"""

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from flask import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from ..errors import api_error

bp = Blueprint("pwa", __name__)

THEME_COLOR = "#0f5f8c"  # --accent in static/css/app.css
BACKGROUND_COLOR = "#f4f6f8"  # --bg
VERSION_HEADER = "X-Fieldcrm-Version"
USER_HEADER = "X-Fieldcrm-User"  # whose shell it is: the worker refreshes it for another user
SERVICE_WORKER = "js/sw.js"
PRECACHED_SUFFIXES = (".js", ".mjs", ".css", ".png", ".svg", ".webp", ".ico", ".woff2")
RELEASE_MARKER = re.compile(r"/\*__FIELDCRM_RELEASE__\*/[^\n;]*;")
_EXTENSION_KEY = "fieldcrm.pwa"


@dataclass(frozen=True)
class Release:
    """One deployment of the front end: its version and what the service worker precaches."""

    version: str
    precache: tuple[tuple[str, str], ...]  # (path under static/, "sha256-…" SRI digest)
    worker_source: str


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _fingerprint(*roots: Path) -> tuple:
    """(path, size, mtime) of every file: cheap to take, changes with any file."""
    stamps = []
    for root in roots:
        for folder, _dirs, names in os.walk(root):
            for name in names:
                stat = os.stat(os.path.join(folder, name))
                stamps.append((folder, name, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(stamps))


def scan_release(static_dir: Path, template_dir: Path) -> Release:
    """Hash the static files and templates into a version; list the files to precache.

    Precached: the static files a page loads (scripts, styles, images, fonts), except the
    service worker itself, which is served at /sw.js. Type declarations and CommonJS
    copies that come with vendored packages are left out.
    """
    overall = hashlib.sha256()
    precache = []
    for root, label in ((static_dir, "static"), (template_dir, "templates")):
        for path in _files(root):
            relative = path.relative_to(root).as_posix()
            digest = hashlib.sha256(path.read_bytes()).digest()
            overall.update(f"{label}/{relative}\0".encode() + digest)
            if (label == "static" and relative != SERVICE_WORKER
                    and relative.endswith(PRECACHED_SUFFIXES) and not relative.endswith(".d.ts")):
                precache.append((relative, "sha256-" + base64.b64encode(digest).decode()))
    source = (static_dir / SERVICE_WORKER).read_text(encoding="utf-8")
    if not RELEASE_MARKER.search(source):
        raise RuntimeError(f"{SERVICE_WORKER} lost its /*__FIELDCRM_RELEASE__*/ line")
    return Release(overall.hexdigest()[:16], tuple(precache), source)


def current_release() -> Release:
    """This app's release, rescanned only when a file under static/ or templates/ changed."""
    app = current_app._get_current_object()
    roots = (Path(app.static_folder), Path(app.root_path) / (app.template_folder or "templates"))
    fingerprint = _fingerprint(*roots)
    cached = app.extensions.get(_EXTENSION_KEY)
    if cached is None or cached[0] != fingerprint:
        cached = (fingerprint, scan_release(*roots))
        app.extensions[_EXTENSION_KEY] = cached
    return cached[1]


def _worker_script(release: Release) -> str:
    config = {
        "version": release.version,
        "shell": url_for("pwa.offline"),
        "navigationTimeoutMs": current_app.config.get("PWA_NAVIGATION_TIMEOUT_MS", 3000),
        "precache": [{"url": url_for("static", filename=path), "integrity": integrity}
                     for path, integrity in release.precache],
    }
    line = "/*__FIELDCRM_RELEASE__*/ " + json.dumps(config, separators=(",", ":")) + ";"
    return RELEASE_MARKER.sub(lambda _match: line, release.worker_source, count=1)


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest (public: browsers fetch it without cookies)."""
    start = url_for("nearby.index") if "nearby.index" in current_app.view_functions else "/"
    icon = lambda name: url_for("static", filename=f"icons/{name}")  # noqa: E731
    body = {
        "id": "/",
        "name": "fieldcrm",
        "short_name": "fieldcrm",
        "description": _("Your customers nearby, visits, notes and orders — also without a network."),
        "lang": str(get_locale() or "en"),
        "dir": "ltr",
        "start_url": start,
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "categories": ["business", "productivity"],
        "icons": [
            {"src": icon("icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": icon("icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": icon("icon-maskable-512.png"), "sizes": "512x512", "type": "image/png",
             "purpose": "maskable"},
        ],
    }
    response = make_response(json.dumps(body, ensure_ascii=False))
    response.headers["Content-Type"] = "application/manifest+json; charset=utf-8"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "Accept-Language"
    return response


@bp.get("/sw.js")
def service_worker():
    """The service worker for the root scope, with this release's version and precache list."""
    response = make_response(_worker_script(current_release()))
    response.add_etag()
    response.make_conditional(request)
    response.headers["Content-Type"] = "application/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline")
@login_required
def offline():
    """The app shell the service worker shows for any page it cannot load.

    It is cached per browser and per release, so it leaves out what goes stale: flashed
    messages (rendering them would also consume them) and the follow-up badge. The CSRF
    token in it may be stale later; the sync module fetches a fresh one (see ``session``).
    """
    html = render_template("pwa/shell.html", get_flashed_messages=lambda **_kw: [],
                           followups_due_count=lambda: 0)
    response = make_response(html)
    response.headers[VERSION_HEADER] = current_release().version
    response.headers[USER_HEADER] = str(current_user.id)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/app/session")
def session():
    """Who is logged in, a fresh CSRF token and the release: asked before every sync.

    An anonymous caller gets a JSON 401 (not a redirect to the login page), so the app
    can say "log in again" instead of parsing a login form.
    """
    if not current_user.is_authenticated:
        return api_error(401, _("Please log in."))
    response = jsonify(user_id=str(current_user.id), csrf_token=generate_csrf(),
                       version=current_release().version)
    response.headers["Cache-Control"] = "no-store"
    return response

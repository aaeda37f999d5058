"""Test helpers shared by tests/ and tests/browser/ (both have a conftest.py, so import these from here)."""

import os
import re
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

PASSWORD = "correct-horse-battery"


class Client:
    """A test client that knows the CSRF token and logs in like a user."""

    def __init__(self, flask_client):
        self.http = flask_client
        self.csrf = None

    def __getattr__(self, name):
        return getattr(self.http, name)

    def refresh_csrf(self) -> str:
        page = self.http.get("/login").get_data(as_text=True)
        if "csrf-token" not in page:
            page = self.http.get("/account").get_data(as_text=True)
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        return self.csrf

    def login(self, email: str, password: str = PASSWORD):
        self.refresh_csrf()
        response = self.http.post("/login", data={"email": email, "password": password,
                                                  "csrf_token": self.csrf})
        self.refresh_csrf()
        return response

    def form(self, path: str, data: dict | None = None, **kwargs):
        """POST a form the way the browser does, with the CSRF token."""
        return self.http.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def customer_page(self, customer_id) -> str:
        """The customer page as a browser shows it: the page, with the working panels
        (visit, note, follow-ups, orders) that it loads right after (htmx) in their place."""
        page = self.http.get(f"/customers/{customer_id}").get_data(as_text=True)
        working = self.http.get(f"/customers/{customer_id}/working",
                                headers={"HX-Request": "true"}).get_data(as_text=True)
        start = page.index('<div id="working"')
        end = page.index("</div>", start) + len("</div>")
        return page[:start] + working + page[end:]

    def api(self, method: str, path: str, json=None, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.csrf:
            headers["X-CSRFToken"] = self.csrf
        return self.http.open(path, method=method, json=json, headers=headers, **kwargs)


PUSH = "/api/v1/sync/push"
PULL = "/api/v1/sync/pull"


def stamp(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


class Device:
    """A phone: a client id, a mutation counter, a cursor, and what it pulled."""

    def __init__(self, client, email):
        self.client = client
        self.client.login(email)
        self.id = str(uuid.uuid4())
        self.next_id = 1
        self.cursor = None
        self.rows = {}

    def mutation(self, entity, entity_id, fields=None, *, op="upsert", base=None, changed_at=None):
        m = {"id": self.next_id, "entity": entity, "op": op, "entity_id": str(entity_id),
             "base_version": base, "changed_at": changed_at or stamp(), "fields": fields or {}}
        self.next_id += 1
        return m

    def push(self, *mutations, expect=200):
        response = self.client.api("POST", PUSH, json={"client_id": self.id, "mutations": list(mutations)})
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def pull(self):
        while True:
            body = self.client.api("POST", PULL, json={"cursor": self.cursor, "client_id": self.id}).get_json()
            if body.get("reset"):
                self.rows.clear()
            for change in body["changes"]:
                key = (change["entity"], change["entity_id"])
                if change["op"] == "upsert":
                    self.rows[key] = change["data"]
                else:
                    self.rows.pop(key, None)
            self.cursor = body["cursor"]
            if not body["has_more"]:
                return body


FAST_HASH = "pbkdf2:sha256:1000"


def app_config(url: str, **extra) -> dict:
    """The test app's configuration for the database at ``url``."""
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret",
        "TESTING": True,
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "SERVER_NAME": None,
        # Never the public Nominatim: a closed local port unless a test starts its stand-in.
        "GEOCODER_DOMAIN": "127.0.0.1:9",
        "GEOCODER_SCHEME": "http",
        **extra,
    }


@contextmanager
def migrated_sqlite(path):
    """An app context on a new SQLite file at ``path``, migrated to head, and its ``db``:
    for tests whose database must be their own (no statistics yet, or statistics the
    shared database's other tests must not plan with)."""
    from flask_migrate import upgrade

    from fieldcrm import create_app
    from fieldcrm.extensions import db

    app = create_app(app_config(f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        try:
            yield db
        finally:
            db.session.remove()
            db.engine.dispose()


def postgres_database(suffix: str) -> str | None:
    """The URL of a new, empty PostgreSQL database named after TEST_DATABASE_URL's and
    ``suffix`` (dropped first if it exists); None without TEST_DATABASE_URL, which CI
    must set."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL is not set: CI must run the PostgreSQL suite")
        return None
    url = sa.engine.make_url(base)
    name = f"{url.database}_{suffix}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    parsed = sa.engine.make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()

"""Every CSV import and export route × every role → the expected status (see tests/authz.py).

Imports are for managers and admins (reps get 404); an import belongs to the
manager who uploaded it, and admins see every import. The export is for
everyone, of their own scope (tests/test_export.py checks the rows).
"""

import io

import pytest
from authz import ANY_USER, MANAGERS, ROLES, cases, check_junk, check_route, junk_cases
from support import Client

from fieldcrm.imports import operations

CSV = "Firma;PLZ;Ort\r\nKontor Nord;20095;Hamburg\r\n".encode("cp1252")
MANAGER_WRITE = {"anonymous": 302, "rep": 404, "other_rep": 404, "manager": 303, "admin": 303}


def upload_form(w):
    return {"file": (io.BytesIO(CSV), "kunden.csv")}


def start_form(w):
    return {"column-0": "name", "column-1": "postal_code", "column-2": "city",
            "territory_id": str(w.north.id), "on_duplicate": "skip"}


MATRIX = [
    ("imports.upload", "GET", lambda w: "/import", None, MANAGERS),
    ("imports.upload", "POST", lambda w: "/import", upload_form, MANAGER_WRITE),
    ("imports.mapping", "GET", lambda w: f"/import/{w.batch.id}", None, MANAGERS),
    ("imports.start", "POST", lambda w: f"/import/{w.batch.id}", start_form, MANAGER_WRITE),
    ("imports.progress", "GET", lambda w: f"/import/{w.batch.id}/progress", None, MANAGERS),
    ("imports.errors", "GET", lambda w: f"/import/{w.batch.id}/errors.csv", None, MANAGERS),
    ("imports.export_customers", "GET", lambda w: "/customers/export.csv", None, ANY_USER),
]


@pytest.fixture
def import_cast(cast, db):
    """The standard cast plus a file the manager uploaded and has not started yet."""
    cast.batch = operations.create_batch(cast.manager, "kunden.csv", CSV)
    db.session.commit()
    return cast


class BufferedClient(Client):
    """Reads streamed bodies (the CSV downloads) inside the request's own context."""

    def get(self, *args, **kwargs):
        return self.http.get(*args, buffered=True, **kwargs)


@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role", "expected"), cases(MATRIX))
def test_route_role_status(client, import_cast, endpoint, method, path, form, role, expected):
    check_route(BufferedClient(client.http), import_cast, method, path, form, role, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role"), junk_cases(MATRIX))
def test_junk_is_never_a_500(client, import_cast, endpoint, method, path, form, role):
    check_junk(BufferedClient(client.http), import_cast, method, path, form, role)


def test_matrix_covers_every_import_route(app):
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"} if rule.endpoint.startswith("imports.")}
    assert routes == {(endpoint, method) for endpoint, method, *_ in MATRIX}


def test_import_roles_are_the_ones_of_the_matrix():
    assert set(MANAGER_WRITE) == set(ROLES)

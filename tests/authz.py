"""The authorization matrix: every route × every role → the expected status.

Each area has a ``tests/test_authorization_<area>.py`` with a ``MATRIX`` of
rows ``(endpoint, method, path(world), form(world) or None, {role: status})``.
``test_matrix_covers_every_route`` fails when a route has no row anywhere, so
authorization is never forgotten. Roles: anonymous, the rep of the customer's
territory, a rep of another territory, the territory's manager, an admin.
Out of scope is always 404.
"""

import importlib
from pathlib import Path

import pytest

ROLES = ("anonymous", "rep", "other_rep", "manager", "admin")
EMAILS = {"rep": "rep1@example.com", "other_rep": "rep2@example.com",
          "manager": "manager@example.com", "admin": "admin@example.com"}

IN_SCOPE = {"anonymous": 302, "rep": 200, "other_rep": 404, "manager": 200, "admin": 200}
IN_SCOPE_WRITE = {"anonymous": 302, "rep": 303, "other_rep": 404, "manager": 303, "admin": 303}
ANY_USER = {"anonymous": 302, "rep": 200, "other_rep": 200, "manager": 200, "admin": 200}
ADMIN_ONLY = {"anonymous": 302, "rep": 404, "other_rep": 404, "manager": 404, "admin": 200}
ADMIN_WRITE = {"anonymous": 302, "rep": 404, "other_rep": 404, "manager": 404, "admin": 303}
MANAGERS = {"anonymous": 302, "rep": 404, "other_rep": 404, "manager": 200, "admin": 200}


def cases(matrix) -> list:
    return [pytest.param(endpoint, method, path, form, role, expected[role],
                         id=f"{endpoint}-{method}-{role}")
            for endpoint, method, path, form, expected in matrix for role in ROLES]


def check_route(client, world, method, path, form, role, expected) -> None:
    """Log in as ``role`` (or not), call the route, and compare the status."""
    if role == "anonymous":
        client.refresh_csrf()
    else:
        client.login(EMAILS[role])
    if method == "GET":
        response = client.get(path(world))
    else:
        response = client.form(path(world), form(world) if form else {})
    assert response.status_code == expected, response.get_data(as_text=True)[:500]


def all_rows() -> list:
    """The rows of every tests/test_authorization_*.py module."""
    rows = []
    for path in sorted(Path(__file__).parent.glob("test_authorization_*.py")):
        rows.extend(importlib.import_module(path.stem).MATRIX)
    return rows

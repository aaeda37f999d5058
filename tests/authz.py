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
from urllib.parse import parse_qsl

import pytest

from fieldcrm.customers.queries import encode_cursor

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


# Statuses by which a route turns a user away before it reads their input.
REFUSED = {401, 403, 404}

# What a broken phone, a confused user or a script sends instead of the form's values.
JUNK = ("", "   ", "\x00", "x" * 5000, "-1", "NaN", "1e999", "=HYPERLINK(\"http://x\")",
        "2026-13-45T25:61", "00000000-0000-0000-0000-000000000000")
# A well-formed page cursor whose key holds a NUL (PostgreSQL refuses NUL in a parameter).
NUL_CURSOR = encode_cursor("\x00", "00000000-0000-0000-0000-000000000000")
# Every query parameter the web routes read, spoilt; "place" (geocoded) wins over the
# rest, so it goes alone.
JUNK_QUERIES = ({"q": "\x00", "page": "-1", "lat": "NaN", "lon": "1e999", "radius_km": "0",
                 "status": "<script>", "abc": "Z", "abc_class": "Z", "sort": "x" * 300,
                 "cursor": "%%%", "after": NUL_CURSOR, "limit": "-1", "offset": "1e999",
                 "customer_id": "\x00", "visit_id": "nope", "product_id": "\x00",
                 "owner": "nope", "owner_id": "nope", "next": "//evil.example", "active": "\x00",
                 "who": "\x00", "near": "NaN,NaN", "home": "\x00", "bbox": "1e999,NaN,,"},
                {"place": "\x00"}, {"place": "x" * 5000}, {"place": "99999"})


def junk_cases(matrix) -> list:
    """The matrix's rows as (endpoint, method, path, form, role) for ``check_junk``: the
    first of rep, admin and manager that the route serves (rather than turning away
    before it reads any input). The forms of one route share their validation, so one
    role is enough; the rep comes first as the one with the narrowest scope."""
    cases = []
    for endpoint, method, path, form, expected in matrix:
        role = next(role for role in ("rep", "admin", "manager") if expected[role] not in REFUSED)
        cases.append(pytest.param(endpoint, method, path, form, role, id=f"{endpoint}-{method}"))
    return cases


def check_junk(client, world, method, path, form, role) -> None:
    """As ``role``, no junk in a form field or the query is a 500.

    Every field of the row's form, or parameter of its query, takes each JUNK value
    in turn (the others stay valid); a form also gets one unknown field, a query
    each of JUNK_QUERIES. A junk value may be accepted (a long note), refused (422),
    or make the row's thing go away (404).
    """
    client.login(EMAILS[role])
    if method == "GET":
        base, _, query = path(world).partition("?")
        params = dict(parse_qsl(query))
        tries = [{**params, name: junk} for name in params for junk in JUNK]
        for args in [*({**params, **junk} for junk in JUNK_QUERIES), *tries]:
            response = client.get(base, query_string=args)
            assert response.status_code < 500, args
        return
    good = form(world) if form else {}
    tries = [{**good, name: junk} for name in good for junk in JUNK]
    for data in [*tries, {**good, "unknown_field": "x"}]:
        response = client.form(path(world), data)
        assert response.status_code < 500, data


def all_rows() -> list:
    """The rows of every tests/test_authorization_*.py module."""
    rows = []
    for path in sorted(Path(__file__).parent.glob("test_authorization_*.py")):
        rows.extend(importlib.import_module(path.stem).MATRIX)
    return rows

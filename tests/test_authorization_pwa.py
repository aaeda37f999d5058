"""The installable app's routes × every role → the expected status (see tests/authz.py).

The manifest and the service worker are public: browsers fetch the manifest without
cookies, and the worker is installed on the login page already (its precache holds only
static files). The offline shell carries the user's navigation and is cached per user:
logged in only. The session check answers anonymous callers with a JSON 401, not a
redirect, so the app can say "log in again".
"""

import pytest
from authz import ANY_USER, ROLES, cases, check_junk, check_route, junk_cases

PUBLIC = dict.fromkeys(ROLES, 200)

# (endpoint, method, path builder, form builder or None, expected status by role)
MATRIX = [
    ("pwa.manifest", "GET", lambda w: "/manifest.webmanifest", None, PUBLIC),
    ("pwa.service_worker", "GET", lambda w: "/sw.js", None, PUBLIC),
    ("pwa.offline", "GET", lambda w: "/offline", None, ANY_USER),
    ("pwa.session", "GET", lambda w: "/app/session", None, ANY_USER | {"anonymous": 401}),
]


@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role", "expected"), cases(MATRIX))
def test_route_role_status(client, cast, endpoint, method, path, form, role, expected):
    check_route(client, cast, method, path, form, role, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role"), junk_cases(MATRIX))
def test_junk_is_never_a_500(client, cast, endpoint, method, path, form, role):
    check_junk(client, cast, method, path, form, role)


def test_matrix_covers_the_blueprint(app):
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("pwa.") for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == {(endpoint, method) for endpoint, method, *_ in MATRIX}

"""Every visit, note, agenda and follow-up route × every role → the expected status
(see tests/authz.py). Out of scope is 404; in scope but not yours (another rep's
check-out) is 403; a follow-up may only go to someone in the caller's team (422)."""

from datetime import UTC, datetime, timedelta

import pytest
from authz import (
    ANY_USER,
    EMAILS,
    IN_SCOPE,
    IN_SCOPE_WRITE,
    ROLES,
    cases,
    check_junk,
    check_route,
    junk_cases,
)

from fieldcrm.models import Followup, Note, Visit


@pytest.fixture
def scene(cast, db):
    """The standard cast, with Rita checked in at her customer, a planned visit, a note
    and a follow-up assigned to her."""
    now = datetime.now(UTC)
    cast.visit = Visit(customer_id=cast.customer.id, user_id=cast.rep.id, checked_in_at=now)
    cast.planned = Visit(customer_id=cast.customer.id, user_id=cast.rep.id,
                         planned_at=now + timedelta(days=1))
    db.session.add_all([cast.visit, cast.planned])
    db.session.flush()
    cast.note = Note(customer_id=cast.customer.id, visit_id=cast.visit.id, user_id=cast.rep.id,
                     channel="visit", body="Alles gut")
    cast.followup = Followup(customer_id=cast.customer.id, title="Anrufen", due_at=now,
                             assignee_id=cast.rep.id, created_by_id=cast.rep.id)
    db.session.add_all([cast.note, cast.followup])
    db.session.commit()
    return cast


def next_week() -> str:
    return (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT10:00")


OWN_VISIT_WRITE = {"anonymous": 302, "rep": 303, "other_rep": 404, "manager": 403, "admin": 403}
TEAM_ONLY_WRITE = {"anonymous": 302, "rep": 422, "other_rep": 404, "manager": 303, "admin": 303}

MATRIX = [
    # Rita is checked in there already: checking in again returns her open visit.
    ("visits.check_in", "POST", lambda w: f"/customers/{w.customer.id}/check-in",
     lambda w: {"lat": "53.55", "lon": "9.99"}, IN_SCOPE_WRITE),
    ("visits.check_out", "POST", lambda w: f"/visits/{w.visit.id}/check-out",
     lambda w: {"outcome": "order_taken"}, OWN_VISIT_WRITE),
    ("visits.plan", "POST", lambda w: f"/customers/{w.customer.id}/visits",
     lambda w: {"planned_at": next_week()}, IN_SCOPE_WRITE),
    ("visits.cancel", "POST", lambda w: f"/visits/{w.planned.id}/cancel", lambda w: {},
     IN_SCOPE_WRITE),
    ("visits.show", "GET", lambda w: f"/visits/{w.visit.id}", None, IN_SCOPE),
    ("visits.agenda", "GET", lambda w: "/agenda", None, ANY_USER),
    ("visits.create_note", "POST", lambda w: f"/customers/{w.customer.id}/notes",
     lambda w: {"body": "Kurz notiert", "channel": "phone"}, IN_SCOPE_WRITE),
    ("visits.show_note", "GET", lambda w: f"/notes/{w.note.id}", None, IN_SCOPE),
    ("followups.index", "GET", lambda w: "/followups", None, ANY_USER),
    ("followups.create", "POST", lambda w: f"/customers/{w.customer.id}/followups",
     lambda w: {"title": "Angebot", "due_at": next_week()}, IN_SCOPE_WRITE),
    ("followups.show", "GET", lambda w: f"/followups/{w.followup.id}", None, IN_SCOPE),
    ("followups.done", "POST", lambda w: f"/followups/{w.followup.id}/done", lambda w: {},
     IN_SCOPE_WRITE),
    ("followups.snooze", "POST", lambda w: f"/followups/{w.followup.id}/snooze",
     lambda w: {"by": "1d"}, IN_SCOPE_WRITE),
    # To the manager: in the manager's and the admin's team, not in Rita's (only herself).
    ("followups.reassign", "POST", lambda w: f"/followups/{w.followup.id}/reassign",
     lambda w: {"assignee_id": str(w.manager.id)}, TEAM_ONLY_WRITE),
]


@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role", "expected"), cases(MATRIX))
def test_route_role_status(client, scene, endpoint, method, path, form, role, expected):
    check_route(client, scene, method, path, form, role, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("endpoint", "method", "path", "form", "role"), junk_cases(MATRIX))
def test_junk_is_never_a_500(client, scene, endpoint, method, path, form, role):
    check_junk(client, scene, method, path, form, role)


def test_matrix_covers_every_visit_and_followup_route(app):
    """A new route of these blueprints without a row here fails, so authorization is never forgotten."""
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}
              if rule.endpoint.split(".")[0] in ("visits", "followups")}
    assert routes == {(endpoint, method) for endpoint, method, *_ in MATRIX}


def test_unknown_ids_are_404(client, scene):
    client.login(EMAILS["admin"])
    for path in ("/visits/not-a-uuid", "/visits/00000000-0000-0000-0000-000000000000",
                 "/notes/xyz", "/followups/123", "/followups/00000000-0000-0000-0000-000000000000"):
        assert client.get(path).status_code == 404, path
    for path in ("/visits/nope/check-out", "/visits/nope/cancel", "/followups/nope/done",
                 "/followups/nope/snooze", "/followups/nope/reassign",
                 "/customers/nope/check-in", "/customers/nope/notes", "/customers/nope/followups",
                 "/customers/nope/visits"):
        assert client.form(path, {}).status_code == 404, path


def test_other_rep_cannot_reach_visits_notes_or_follow_ups_with_htmx(client, scene):
    client.login(EMAILS["other_rep"])
    headers = {"HX-Request": "true"}
    for path in (f"/visits/{scene.visit.id}/check-out", f"/followups/{scene.followup.id}/done",
                 f"/customers/{scene.customer.id}/notes"):
        assert client.form(path, {"outcome": "other", "body": "x"}, headers=headers).status_code == 404


def test_deleted_customer_hides_its_visits_notes_and_follow_ups(client, scene, db):
    scene.customer.deleted = True
    db.session.commit()
    client.login(EMAILS["rep"])
    for path in (f"/visits/{scene.visit.id}", f"/notes/{scene.note.id}",
                 f"/followups/{scene.followup.id}"):
        assert client.get(path).status_code == 404, path
    assert "Anrufen" not in client.get("/followups").get_data(as_text=True)


def test_roles_list_is_complete():
    assert set(OWN_VISIT_WRITE) == set(TEAM_ONLY_WRITE) == set(ROLES)

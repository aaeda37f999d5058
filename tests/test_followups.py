"""Follow-ups: set one, see it as overdue / today / upcoming in your own time zone (also
on the days summer time starts and ends), snooze it, mark it done, hand it to a colleague."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fieldcrm.followups import operations, queries
from fieldcrm.models import Followup, History
from fieldcrm.validation import ValidationError

HTMX = {"HX-Request": "true"}
BERLIN = ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def add_followup(db, world):
    """Make a follow-up due at ``due`` (RFC 3339) for the standard customer."""

    def add(title: str, due: str, assignee=None, customer=None) -> Followup:
        followup = Followup(customer_id=(customer or world.customer).id, title=title, due_at=utc(due),
                            assignee_id=(assignee or world.rep).id, created_by_id=world.rep.id)
        db.session.add(followup)
        db.session.commit()
        return followup

    return add


def titles(followups) -> list[str]:
    return [f.title for f in followups]


def followup_history(db) -> list[History]:
    return list(db.session.scalars(
        sa.select(History).where(History.kind == "followup").order_by(History.at, History.version)
    ))


def message_of(app, exc, field) -> str:
    """A lazily translated message as the (English) text a user would read."""
    with app.test_request_context():
        return str(exc.value.errors[field])


def sections_for(user, now, zone):
    s = queries.followup_sections(user, [user.id], now=now, zone=zone)
    return titles(s.overdue), titles(s.today), titles(s.upcoming)


def test_sections_on_the_day_summer_time_starts(world, add_followup):
    # Sunday 29 March 2026 in Berlin: 00:00 CET = 23:00Z the day before, 24:00 CEST = 22:00Z.
    now = utc("2026-03-29T12:00:00+02:00")
    add_followup("early this morning", "2026-03-29T00:30:00+01:00")
    add_followup("late tonight", "2026-03-29T23:30:00+02:00")
    add_followup("just after midnight", "2026-03-30T00:10:00+02:00")
    add_followup("yesterday evening", "2026-03-28T23:50:00+01:00")
    overdue, today, upcoming = sections_for(world.rep, now, BERLIN)
    assert overdue == ["yesterday evening", "early this morning"]
    assert today == ["late tonight"]
    assert upcoming == ["just after midnight"]
    assert queries.due_count(world.rep, now=now, zone=BERLIN) == 3


def test_sections_on_the_day_summer_time_ends(world, add_followup):
    # Sunday 25 October 2026: the day has 25 hours; 23:30 CET is 22:30Z.
    now = utc("2026-10-25T01:30:00+01:00")  # after the clocks went back
    add_followup("before the change", "2026-10-25T01:30:00+02:00")  # an hour earlier
    add_followup("late tonight", "2026-10-25T23:30:00+01:00")
    add_followup("tomorrow", "2026-10-26T00:00:00+01:00")
    overdue, today, upcoming = sections_for(world.rep, now, BERLIN)
    assert (overdue, today, upcoming) == (["before the change"], ["late tonight"], ["tomorrow"])


@pytest.mark.parametrize(("zone", "expected"), [
    # 20:00Z on 15 June: 22:00 in Berlin, 16:00 in New York, 05:00 (16 June) in Tokyo.
    ("Europe/Berlin", ([], ["upcoming"], ["night", "morning"])),
    ("America/New_York", ([], ["upcoming", "night"], ["morning"])),
    ("Asia/Tokyo", ([], ["upcoming", "night", "morning"], [])),
])
def test_today_is_the_viewers_local_day(world, add_followup, zone, expected):
    now = utc("2026-06-15T20:00:00+00:00")
    add_followup("upcoming", "2026-06-15T21:00:00+00:00")
    add_followup("night", "2026-06-16T02:00:00+00:00")
    add_followup("morning", "2026-06-16T10:00:00+00:00")
    assert sections_for(world.rep, now, ZoneInfo(zone)) == expected


def test_done_follow_ups_and_other_peoples_are_not_listed(world, add_followup, db):
    now = utc("2026-06-15T10:00:00+00:00")
    done = add_followup("done", "2026-06-15T09:00:00+00:00")
    done.done_at = now
    add_followup("for Otto", "2026-06-15T09:00:00+00:00", assignee=world.other_rep,
                 customer=world.other_customer)
    db.session.commit()
    assert sections_for(world.rep, now, BERLIN) == ([], [], [])
    assert queries.due_count(world.rep, now=now, zone=BERLIN) == 0


def test_a_follow_up_out_of_scope_is_not_listed_even_if_assigned(world, add_followup):
    # Assigned to Rita, but on a customer she cannot see: not shown, not counted.
    now = utc("2026-06-15T10:00:00+00:00")
    add_followup("outside", "2026-06-15T09:00:00+00:00", customer=world.other_customer)
    assert sections_for(world.rep, now, BERLIN) == ([], [], [])
    assert queries.due_count(world.rep, now=now, zone=BERLIN) == 0


def test_create_in_local_time_with_history(client, world, db):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/followups",
                           {"title": "Angebot nachfassen", "due_at": "2026-10-26T09:00"},
                           headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "fieldcrm:history"
    assert "Angebot nachfassen" in response.get_data(as_text=True)
    [followup] = db.session.scalars(sa.select(Followup)).all()
    assert followup.due_at == utc("2026-10-26T09:00:00+01:00")  # winter time again
    assert (followup.assignee_id, followup.created_by_id) == (world.rep.id, world.rep.id)
    [entry] = followup_history(db)
    assert (entry.field, entry.new, entry.ref_id, entry.user_id) == \
        ("created", "Angebot nachfassen", followup.id, world.rep.id)


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"title": "x", "due_at": "26.10.2026 09:00"}, "due_at", "Must be a date and time."),
    ({"title": "x", "due_at": "tomorrow"}, "due_at", "Must be a date and time."),
    ({"title": "x", "due_at": ""}, "due_at", "This field is required."),
    ({"title": "x", "due_at": "1999-01-01T09:00"}, "due_at", "Choose a date within the next ten years."),
    ({"title": "", "due_at": "2026-10-26T09:00"}, "title", "This field is required."),
    ({"title": "x" * 201, "due_at": "2026-10-26T09:00"}, "title", "At most 200 characters."),
])
def test_bad_follow_up_gets_a_message_at_the_field(client, world, db, form, field, message):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/followups", form, headers=HTMX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'<p class="error" id="e-{field}">{message}' in body
    assert db.session.scalars(sa.select(Followup)).all() == []
    assert followup_history(db) == []


def test_assignee_must_be_in_my_team_and_work_on_the_customer(app, world, db, make_territory,
                                                              make_customer):
    data = {"customer_id": str(world.customer.id), "title": "x", "due_at": "2026-10-26T09:00:00Z"}
    with pytest.raises(ValidationError) as exc:
        operations.create_followup(world.rep, data | {"assignee_id": str(world.other_rep.id)})
    assert "cannot assign" in message_of(app, exc, "assignee_id")
    followup = operations.create_followup(world.manager, data | {"assignee_id": str(world.rep.id)})
    assert followup.assignee_id == world.rep.id
    # A customer of another territory of the same manager: Rita does not work on it.
    east = make_territory("Ost", manager=world.manager)
    far_customer = make_customer(name="Ostkunde", territory_id=east.id)
    with pytest.raises(ValidationError) as exc:
        operations.create_followup(world.manager, data | {"customer_id": str(far_customer.id),
                                                          "assignee_id": str(world.rep.id)})
    assert "does not work on this customer" in message_of(app, exc, "assignee_id")


def test_follow_up_on_a_customer_out_of_scope_is_refused(world, db):
    with pytest.raises(ValidationError) as exc:
        operations.create_followup(world.rep, {"customer_id": str(world.other_customer.id),
                                               "title": "x", "due_at": "2026-10-26T09:00:00Z"})
    assert set(exc.value.errors) == {"customer_id"}


def test_json_due_date_needs_an_offset(app, world, db):
    with pytest.raises(ValidationError) as exc:
        operations.create_followup(world.rep, {"customer_id": str(world.customer.id), "title": "x",
                                               "due_at": "2026-10-26T09:00"}, form=False)
    assert "time zone offset" in message_of(app, exc, "due_at")


def test_done_once_with_history(client, world, db, add_followup):
    followup = add_followup("Anrufen", "2026-06-15T09:00:00+00:00")
    client.login("rep1@example.com")
    response = client.form(f"/followups/{followup.id}/done", {"compact": "1"}, headers=HTMX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f'id="followup-{followup.id}"' in body and "fu-done" in body
    assert client.form(f"/followups/{followup.id}/done", headers=HTMX).status_code == 200
    db.session.expire_all()
    assert db.session.get(Followup, followup.id).done_at is not None
    assert [(e.field, e.new) for e in followup_history(db)] == [("done", "Anrufen")]


def test_done_without_htmx_goes_back_to_a_local_page_only(client, world, db, add_followup):
    first = add_followup("eins", "2026-06-15T09:00:00+00:00")
    second = add_followup("zwei", "2026-06-15T09:00:00+00:00")
    client.login("rep1@example.com")
    response = client.form(f"/followups/{first.id}/done", {"next": "/followups?who=me"})
    assert (response.status_code, response.headers["Location"]) == (303, "/followups?who=me")
    response = client.form(f"/followups/{second.id}/done", {"next": "//evil.example/x"})
    assert response.headers["Location"] == f"/followups/{second.id}"


def test_snooze_by_a_day_keeps_the_local_time_across_dst(world, db, add_followup):
    followup = add_followup("Samstag", "2026-03-28T09:00:00+01:00")
    now = utc("2026-03-27T12:00:00+01:00")
    operations.snooze_followup(world.rep, followup, {"by": "1d"}, now=now)
    assert followup.due_at == utc("2026-03-29T09:00:00+02:00")
    operations.snooze_followup(world.rep, followup, {"by": "1w"}, now=now)
    assert followup.due_at == utc("2026-04-05T09:00:00+02:00")
    db.session.commit()
    entries = followup_history(db)
    assert [e.field for e in entries] == ["snoozed", "snoozed"]
    assert (entries[0].old, entries[0].new) == (utc("2026-03-28T09:00:00+01:00").isoformat(),
                                                utc("2026-03-29T09:00:00+02:00").isoformat())


def test_snoozing_an_overdue_follow_up_counts_from_now(world, db, add_followup):
    followup = add_followup("alt", "2026-06-01T09:00:00+02:00")
    now = utc("2026-06-10T14:30:00+02:00")
    operations.snooze_followup(world.rep, followup, {"by": "1d"}, now=now)
    assert followup.due_at == utc("2026-06-11T14:30:00+02:00")


def test_snooze_to_a_chosen_local_time(client, world, db, add_followup):
    followup = add_followup("später", "2026-06-15T09:00:00+00:00")
    client.login("rep1@example.com")
    until = (datetime.now(BERLIN) + timedelta(days=3)).strftime("%Y-%m-%dT08:15")
    response = client.form(f"/followups/{followup.id}/snooze", {"by": "until", "until": until},
                           headers=HTMX)
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Followup, followup.id).due_at == \
        datetime.fromisoformat(until).replace(tzinfo=BERLIN)


@pytest.mark.parametrize(("form", "message"), [
    ({"by": "until", "until": "2020-01-01T09:00"}, "Choose a time in the future."),
    ({"by": "until", "until": "morgen"}, "Must be a date and time."),
    ({"by": "until"}, "Choose a date and time."),
    ({"by": "1y"}, "Choose one of"),
])
def test_bad_snooze_gets_a_message(client, world, db, add_followup, form, message):
    followup = add_followup("x", "2026-06-15T09:00:00+00:00")
    client.login("rep1@example.com")
    response = client.form(f"/followups/{followup.id}/snooze", form, headers=HTMX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Followup, followup.id).due_at == utc("2026-06-15T09:00:00+00:00")
    assert followup_history(db) == []


def test_a_done_follow_up_cannot_be_snoozed(client, world, db, add_followup):
    followup = add_followup("x", "2026-06-15T09:00:00+00:00")
    followup.done_at = datetime.now(UTC)
    db.session.commit()
    client.login("rep1@example.com")
    response = client.form(f"/followups/{followup.id}/snooze", {"by": "1d"})
    assert response.status_code == 409
    assert "already done" in response.get_data(as_text=True)


def test_manager_reassigns_with_history(client, world, db, add_followup):
    followup = add_followup("Übergabe", "2026-06-15T09:00:00+00:00")
    client.login("manager@example.com")
    response = client.form(f"/followups/{followup.id}/reassign",
                           {"assignee_id": str(world.manager.id)})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Followup, followup.id).assignee_id == world.manager.id
    [entry] = followup_history(db)
    assert (entry.field, entry.old, entry.new, entry.user_id) == \
        ("reassigned", "Rita Rep", "Max Manager", world.manager.id)


@pytest.mark.parametrize("email", ["rep1@example.com", "manager@example.com"])
def test_reassign_outside_the_team_is_refused(client, world, db, add_followup, email):
    followup = add_followup("x", "2026-06-15T09:00:00+00:00")
    client.login(email)
    response = client.form(f"/followups/{followup.id}/reassign",
                           {"assignee_id": str(world.other_rep.id)})
    assert response.status_code == 422
    assert "You cannot assign follow-ups to this person." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Followup, followup.id).assignee_id == world.rep.id


def test_list_page_has_sections_and_the_badge_counts_due(client, world, db, add_followup):
    now = datetime.now(UTC)
    add_followup("überfällig", (now - timedelta(hours=2)).isoformat())
    add_followup("nächste Woche", (now + timedelta(days=8)).isoformat())
    client.login("rep1@example.com")
    page = client.get("/followups").get_data(as_text=True)
    for heading in ("Overdue", "Today", "Upcoming"):
        assert heading in page
    assert "überfällig" in page and "nächste Woche" in page
    assert page.count('<span class="navbadge"') == 2  # top and bottom navigation
    assert '>1</span>' in page


def test_no_badge_without_due_follow_ups(client, world):
    client.login("rep1@example.com")
    assert "navbadge" not in client.get("/customers").get_data(as_text=True)


def test_manager_filters_the_list_for_the_team(client, world, db, add_followup):
    now = datetime.now(UTC)
    add_followup("Ritas Aufgabe", (now + timedelta(days=2)).isoformat())
    client.login("manager@example.com")
    assert "Ritas Aufgabe" not in client.get("/followups").get_data(as_text=True)
    assert "Ritas Aufgabe" in client.get("/followups?who=team").get_data(as_text=True)
    assert "Ritas Aufgabe" in client.get(f"/followups?who={world.rep.id}").get_data(as_text=True)
    # Someone outside the team falls back to "mine".
    assert "Ritas Aufgabe" not in client.get(f"/followups?who={world.other_rep.id}").get_data(as_text=True)


def test_a_rep_cannot_list_the_team(client, world, db, add_followup):
    add_followup("Ottos Aufgabe", (datetime.now(UTC) + timedelta(days=2)).isoformat(),
                 assignee=world.other_rep, customer=world.other_customer)
    client.login("rep1@example.com")
    assert "Ottos Aufgabe" not in client.get("/followups?who=team").get_data(as_text=True)


def test_customer_page_shows_open_follow_ups_and_the_form(client, world, db, add_followup):
    add_followup("Katalog schicken", (datetime.now(UTC) + timedelta(days=1)).isoformat())
    client.login("rep1@example.com")
    page = client.customer_page(world.customer.id)
    assert "Katalog schicken" in page and "New follow-up" in page
    assert 'name="due_at" type="datetime-local"' in page

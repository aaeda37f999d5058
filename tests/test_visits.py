"""A rep checks in at a customer (with or without GPS, near or far), checks out with an
outcome, plans visits and sees them on the agenda."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fieldcrm.models import VISIT_OUTCOMES, Customer, History, Visit
from fieldcrm.settings import set_setting
from fieldcrm.visits import operations, queries
from fieldcrm.visits.labels import OUTCOME_LABELS
from fieldcrm.visits.localtime import add_local_days, day_bounds

HTMX = {"HX-Request": "true"}
BERLIN = ZoneInfo("Europe/Berlin")
# About 110 m and about 1.2 km north of the standard customer (53.55, 9.99).
NEAR = {"lat": "53.551", "lon": "9.99"}
FAR = {"lat": "53.561", "lon": "9.99"}


def visits_of(db, customer) -> list[Visit]:
    return list(db.session.scalars(sa.select(Visit).where(Visit.customer_id == customer.id)))


def activity(db, customer, kind="visit") -> list[History]:
    return list(db.session.scalars(
        sa.select(History).where(History.customer_id == customer.id, History.kind == kind)
        .order_by(History.at, History.version)
    ))


def test_check_in_near_the_customer_records_time_position_and_distance(client, world, db):
    client.login("rep1@example.com")
    before = datetime.now(UTC)
    response = client.form(f"/customers/{world.customer.id}/check-in", NEAR)
    assert response.status_code == 303
    [visit] = visits_of(db, world.customer)
    assert visit.user_id == world.rep.id
    assert before - timedelta(seconds=1) <= visit.checked_in_at <= datetime.now(UTC)
    assert (visit.lat, visit.lon) == (53.551, 9.99)
    assert 105 < visit.distance_m < 115
    assert visit.far_away is False and visit.checked_out_at is None
    [entry] = activity(db, world.customer)
    assert (entry.field, entry.new, entry.ref_id, entry.user_id) == \
        ("checked_in", str(round(visit.distance_m)), visit.id, world.rep.id)
    page = client.customer_page(world.customer.id)
    assert "Checked in since" in page and "Check out" in page


def test_check_in_far_away_is_flagged_not_refused(client, world, db):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/check-in", FAR, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "fieldcrm:history"
    [visit] = visits_of(db, world.customer)
    assert visit.far_away is True and 1200 < visit.distance_m < 1250
    body = response.get_data(as_text=True)
    assert 'id="visit-panel"' in body
    assert "Checked in 1.2 km from the customer's address." in body


def test_far_away_distance_is_a_setting(client, world, db):
    set_setting("checkin_max_distance_m", 2000)
    db.session.commit()
    client.login("rep1@example.com")
    client.form(f"/customers/{world.customer.id}/check-in", FAR)
    [visit] = visits_of(db, world.customer)
    assert visit.far_away is False and visit.distance_m > 1000


def test_check_in_without_position_is_recorded_as_no_gps(client, world, db):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/check-in", {"lat": "", "lon": ""})
    assert response.status_code == 303
    [visit] = visits_of(db, world.customer)
    assert visit.checked_in_at is not None
    assert (visit.lat, visit.lon, visit.distance_m, visit.far_away) == (None, None, None, False)
    assert activity(db, world.customer)[0].new == "no_gps"
    page = client.customer_page(world.customer.id)
    assert "no GPS" in page
    assert "checked in without GPS position" in page


def test_check_in_at_customer_without_coordinates_keeps_the_position(client, world, db,
                                                                     make_customer):
    unlocated = make_customer(name="Ohne Koordinaten", lat=None, lon=None,
                              territory_id=world.north.id)
    client.login("rep1@example.com")
    client.form(f"/customers/{unlocated.id}/check-in", NEAR)
    [visit] = visits_of(db, unlocated)
    assert visit.lat == 53.551 and visit.distance_m is None and visit.far_away is False
    assert activity(db, unlocated)[0].new is None


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"lat": "53.5"}, "lon", "Give latitude and longitude together."),
    ({"lat": "95", "lon": "9"}, "lat", "Must be between -90 and 90."),
    ({"lat": "north", "lon": "9"}, "lat", "Must be a number."),
])
def test_bad_position_is_refused_with_a_message(client, world, db, form, field, message):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/check-in", form, headers=HTMX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert visits_of(db, world.customer) == []
    assert activity(db, world.customer) == []


def test_only_one_open_visit_at_a_time(client, world, db, make_customer):
    second = make_customer(name="Zweiter Kunde", territory_id=world.north.id, lat=53.6, lon=10.0)
    client.login("rep1@example.com")
    client.form(f"/customers/{world.customer.id}/check-in", NEAR)
    response = client.form(f"/customers/{second.id}/check-in", NEAR, headers=HTMX)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "You are still checked in at Bäckerei Müller GmbH" in body
    assert "Check out there first." in body
    assert visits_of(db, second) == []
    # Checking in again where the visit is open changes nothing (a double tap).
    assert client.form(f"/customers/{world.customer.id}/check-in", NEAR).status_code == 303
    assert len(visits_of(db, world.customer)) == 1
    assert len(activity(db, world.customer)) == 1
    # The second customer's page offers to end the open visit from there.
    page = client.customer_page(second.id)
    assert "Check out of Bäckerei Müller GmbH now" in page


def test_another_rep_may_be_checked_in_at_the_same_time(client, world, db):
    operations.check_in(world.manager, world.customer, {}, form=False)
    db.session.commit()
    client.login("rep1@example.com")
    assert client.form(f"/customers/{world.customer.id}/check-in", NEAR).status_code == 303
    assert len(visits_of(db, world.customer)) == 2


def test_check_out_records_outcome_duration_and_last_visit(client, world, db):
    start = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    visit = operations.check_in(world.rep, world.customer, {}, form=False, now=start)
    db.session.commit()
    operations.check_out(world.rep, visit, {"outcome": "order_taken"}, form=False,
                         now=start + timedelta(minutes=25))
    db.session.commit()
    db.session.expire_all()
    visit = db.session.get(Visit, visit.id)
    assert visit.checked_out_at - visit.checked_in_at == timedelta(minutes=25)
    assert visit.outcome == "order_taken"
    assert db.session.get(Customer, world.customer.id).last_visited_at == start
    assert [e.field for e in activity(db, world.customer)] == ["checked_in", "checked_out"]
    assert activity(db, world.customer)[1].new == "order_taken"


def test_check_out_through_the_panel_shows_the_duration(client, world, db):
    client.login("rep1@example.com")
    client.form(f"/customers/{world.customer.id}/check-in", NEAR)
    [visit] = visits_of(db, world.customer)
    response = client.form(f"/visits/{visit.id}/check-out",
                           {"outcome": "followup_agreed", "panel": str(world.customer.id)},
                           headers=HTMX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Checked out after 0 min: Follow-up agreed." in body
    assert "Check in" in body


def test_customer_not_met_does_not_count_as_a_visit(client, world, db):
    visit = operations.check_in(world.rep, world.customer, {}, form=False)
    operations.check_out(world.rep, visit, {"outcome": "not_met"}, form=False)
    db.session.commit()
    assert db.session.get(Customer, world.customer.id).last_visited_at is None


def test_last_visit_only_moves_forward(world, db):
    later = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    world.customer.last_visited_at = later
    db.session.commit()
    visit = operations.check_in(world.rep, world.customer, {}, form=False, now=later - timedelta(days=3))
    operations.check_out(world.rep, visit, {"outcome": "no_decision"}, form=False,
                         now=later - timedelta(days=3, minutes=-30))
    db.session.commit()
    assert db.session.get(Customer, world.customer.id).last_visited_at == later


def test_last_visit_is_derived_and_gets_no_field_history(world, db):
    visit = operations.check_in(world.rep, world.customer, {}, form=False)
    operations.check_out(world.rep, visit, {"outcome": "order_taken"}, form=False)
    db.session.commit()
    changes = db.session.scalars(sa.select(History).where(History.field == "last_visited_at")).all()
    assert changes == []
    # The customer's version still moves, so offline devices pull the new value.
    assert db.session.get(Customer, world.customer.id).version > visit.version - 10


@pytest.mark.parametrize(("form", "message"), [
    ({}, "This field is required."),
    ({"outcome": "great"}, "Choose one of"),
])
def test_check_out_needs_a_known_outcome(client, world, db, form, message):
    visit = operations.check_in(world.rep, world.customer, {}, form=False)
    db.session.commit()
    client.login("rep1@example.com")
    response = client.form(f"/visits/{visit.id}/check-out", form, headers=HTMX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Visit, visit.id).checked_out_at is None


def test_checking_out_twice_is_a_conflict(client, world, db):
    visit = operations.check_in(world.rep, world.customer, {}, form=False)
    operations.check_out(world.rep, visit, {"outcome": "other"}, form=False)
    db.session.commit()
    client.login("rep1@example.com")
    response = client.form(f"/visits/{visit.id}/check-out", {"outcome": "other"}, headers=HTMX)
    assert response.status_code == 409
    assert "already checked out" in response.get_data(as_text=True)
    assert len(activity(db, world.customer)) == 2


def test_outcome_labels_cover_every_outcome():
    assert tuple(OUTCOME_LABELS) == VISIT_OUTCOMES


def test_a_visit_planned_for_today_is_the_one_checked_into(world, db):
    now = datetime(2026, 5, 4, 7, 30, tzinfo=UTC)
    planned = operations.plan_visit(world.rep, world.customer,
                                    {"planned_at": "2026-05-04T10:00:00+02:00"}, form=False, now=now)
    tomorrow = operations.plan_visit(world.rep, world.customer,
                                     {"planned_at": "2026-05-05T10:00:00+02:00"}, form=False, now=now)
    db.session.commit()
    visit = operations.check_in(world.rep, world.customer, {"lat": 53.55, "lon": 9.99}, form=False,
                                now=now)
    db.session.commit()
    assert visit.id == planned.id and visit.checked_in_at == now
    assert db.session.get(Visit, tomorrow.id).checked_in_at is None


def test_plan_a_visit_in_local_time(client, world, db):
    client.login("rep1@example.com")
    day = (datetime.now(BERLIN) + timedelta(days=3)).date()
    response = client.form(f"/customers/{world.customer.id}/visits",
                           {"planned_at": f"{day.isoformat()}T10:00"}, headers=HTMX)
    assert response.status_code == 200
    [visit] = visits_of(db, world.customer)
    assert visit.planned_at == datetime(day.year, day.month, day.day, 10, tzinfo=BERLIN)
    assert visit.checked_in_at is None
    [entry] = activity(db, world.customer)
    assert entry.field == "planned" and entry.new == visit.planned_at.isoformat()
    assert "Visit planned for" in response.get_data(as_text=True)


@pytest.mark.parametrize(("value", "message"), [
    ("", "This field is required."),
    ("next tuesday", "Must be a date and time."),
    ("2020-01-01T10:00", "Choose a time from today on."),
    ("0001-01-01T00:00", "Choose a date within the next ten years."),
    ("9999-12-31T23:59", "Choose a date within the next ten years."),
])
def test_bad_planned_time_gets_a_message(client, world, db, value, message):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/visits", {"planned_at": value},
                           headers=HTMX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert visits_of(db, world.customer) == []


def test_plan_without_htmx_redirects_or_shows_the_form(client, world, db):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/visits", {"planned_at": "soon"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Must be a date and time." in body and "<html" in body


def test_cancel_a_planned_visit(client, world, db):
    visit = operations.plan_visit(world.rep, world.customer,
                                  {"planned_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()})
    db.session.commit()
    client.login("rep1@example.com")
    assert client.form(f"/visits/{visit.id}/cancel").status_code == 303
    db.session.expire_all()
    assert db.session.get(Visit, visit.id).deleted is True
    assert [e.field for e in activity(db, world.customer)] == ["planned", "cancelled"]
    assert client.get(f"/visits/{visit.id}").status_code == 404


def test_a_started_visit_cannot_be_cancelled(client, world, db):
    visit = operations.check_in(world.rep, world.customer, {}, form=False)
    db.session.commit()
    client.login("rep1@example.com")
    assert client.form(f"/visits/{visit.id}/cancel", headers=HTMX).status_code == 409


def test_visit_page_shows_times_outcome_and_notes(client, world, db):
    start = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    visit = operations.check_in(world.rep, world.customer, {"lat": 53.561, "lon": 9.99},
                                form=False, now=start)
    operations.create_note(world.rep, {"customer_id": str(world.customer.id),
                                       "visit_id": str(visit.id), "body": "Neue Theke gewünscht"})
    operations.check_out(world.rep, visit, {"outcome": "order_taken"}, form=False,
                         now=start + timedelta(hours=1, minutes=5))
    db.session.commit()
    client.login("manager@example.com")
    page = client.get(f"/visits/{visit.id}").get_data(as_text=True)
    assert "1 h 05 min" in page and "Order taken" in page
    assert "far from the address" in page and "Neue Theke gewünscht" in page


def test_agenda_groups_planned_visits_by_local_day_across_dst(world, db):
    # 29 March 2026 is the last Sunday of March: Berlin's day has 23 hours.
    now = datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    times = ["2026-03-29T21:30:00+00:00",   # 23:30 CEST, Sunday
             "2026-03-29T22:30:00+00:00",   # 00:30 CEST, Monday
             "2026-03-28T22:30:00+00:00"]   # 23:30 CET, Saturday: before today
    for value in times:
        db.session.add(Visit(customer_id=world.customer.id, user_id=world.rep.id,
                             planned_at=datetime.fromisoformat(value)))
    db.session.commit()
    days = queries.agenda(world.rep, now=now, zone=BERLIN)
    assert [(d.day.isoformat(), len(d.visits)) for d in days] == [("2026-03-29", 1), ("2026-03-30", 1)]
    tokyo = queries.agenda(world.rep, now=now, zone=ZoneInfo("Asia/Tokyo"))
    # 15:00 in Tokyo: Saturday's 23:30 in Berlin is this morning there.
    assert [(d.day.isoformat(), len(d.visits)) for d in tokyo] == [("2026-03-29", 1), ("2026-03-30", 2)]


def test_agenda_page_lists_my_planned_visits(client, world, db):
    operations.plan_visit(world.rep, world.customer,
                          {"planned_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    operations.plan_visit(world.other_rep, world.other_customer,
                          {"planned_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    db.session.commit()
    client.login("rep1@example.com")
    page = client.get("/agenda").get_data(as_text=True)
    assert "Bäckerei Müller GmbH" in page and "Metzgerei Huber" not in page


def test_local_day_lasts_23_and_25_hours_at_the_dst_changes():
    spring = day_bounds(datetime(2026, 3, 29).date(), BERLIN)
    autumn = day_bounds(datetime(2026, 10, 25).date(), BERLIN)
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    nine = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert add_local_days(nine, 1, BERLIN) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST

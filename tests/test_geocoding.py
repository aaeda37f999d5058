"""Addresses are geocoded in the background worker through geopy's real Nominatim client,
talking HTTP to a local server that answers like Nominatim (tests/fakes/nominatim.py).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fakes import nominatim  # noqa: F401  (fixture)

from fieldcrm import geocoding, jobs
from fieldcrm.customers.operations import create_customer, update_customer
from fieldcrm.models import Customer, GeocodeCache, History, Job, utcnow

JUNGFERNSTIEG = (53.5534, 9.9921)
SPEICHERSTADT = (53.5437, 9.9885)
ADDRESS = {"street": "Jungfernstieg 1", "postal_code": "20354", "city": "Hamburg"}
USER_AGENT = "fieldcrm-tests/0.1 (+https://example.com/contact)"


@pytest.fixture
def hamburg(nominatim):  # noqa: F811
    nominatim.add(*JUNGFERNSTIEG, street="Jungfernstieg", house_number="1",
                  postal_code="20354", city="Hamburg")
    nominatim.add(*SPEICHERSTADT, street="Am Sandtorkai", house_number="1",
                  postal_code="20457", city="Hamburg")
    return nominatim


def new_customer(user, db, **fields) -> Customer:
    customer = create_customer(user, {"name": "Alsterpavillon", **ADDRESS, **fields})
    db.session.commit()
    return customer


def fresh(db, model, key):
    return db.session.get(model, key, populate_existing=True)


def geocode_jobs(db) -> list[Job]:
    return db.session.scalars(sa.select(Job).where(Job.kind == "geocode")
                              .order_by(Job.created_at).execution_options(populate_existing=True)
                              ).all()


def make_due(db) -> None:
    db.session.execute(sa.update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def seconds_until(moment) -> float:
    return (moment - utcnow()).total_seconds()


def test_new_customer_is_located_by_the_worker(world, db, hamburg):
    customer = new_customer(world.rep, db)
    assert customer.geocode_status == "pending" and customer.lat is None
    [job] = geocode_jobs(db)
    assert job.status == "queued" and job.payload["customer_id"] == str(customer.id)
    version = customer.version

    assert jobs.work(once=True) == 1

    customer = fresh(db, Customer, customer.id)
    assert (customer.lat, customer.lon) == pytest.approx(JUNGFERNSTIEG)
    assert customer.geocode_status == "ok" and customer.geocoded_at is not None
    assert customer.version > version
    assert fresh(db, Job, job.id).status == "done"
    changes = db.session.scalars(sa.select(History).where(
        History.entity_id == customer.id, History.kind == "change")).all()
    assert {"lat", "lon", "geocode_status"} <= {entry.field for entry in changes}
    assert all(entry.user_id is None for entry in changes)  # the system, not a person
    [search] = hamburg.searches()
    assert search.query["street"] == "Jungfernstieg 1"
    assert search.query["postalcode"] == "20354" and search.query["city"] == "Hamburg"
    assert search.query["countrycodes"] == "de"


def test_the_user_agent_reaches_nominatim(world, db, hamburg):
    new_customer(world.rep, db)
    jobs.work(once=True)
    assert [r.user_agent for r in hamburg.requests] == [USER_AGENT]


def test_unknown_address_is_marked_failed(world, db, hamburg):
    customer = new_customer(world.rep, db, street="Nirgendwo 7")
    jobs.work(once=True)
    customer = fresh(db, Customer, customer.id)
    assert customer.geocode_status == "failed" and customer.lat is None
    assert geocode_jobs(db)[0].status == "done"
    assert db.session.scalars(sa.select(GeocodeCache.found)).all() == [False]


def test_empty_answer_from_the_server_is_not_found(world, db, hamburg):
    hamburg.find_nothing_next()
    customer = new_customer(world.rep, db)
    jobs.work(once=True)
    assert fresh(db, Customer, customer.id).geocode_status == "failed"


def test_rate_limit_waits_for_retry_after_then_succeeds(world, db, hamburg):
    hamburg.fail_next(429, retry_after=120)
    customer = new_customer(world.rep, db)
    jobs.work(once=True)

    [job] = geocode_jobs(db)
    assert job.status == "queued" and 115 <= seconds_until(job.run_at) <= 121
    assert job.attempts == 0  # the provider asked us to wait: not a failed attempt
    assert "rate limited" in job.last_error
    assert fresh(db, Customer, customer.id).geocode_status == "pending"
    assert jobs.work(once=True) == 0  # not due yet

    make_due(db)
    assert jobs.work(once=True) == 1
    assert fresh(db, Customer, customer.id).geocode_status == "ok"
    assert len(hamburg.searches()) == 2


def test_rate_limit_without_retry_after_waits_a_minute(world, db, hamburg):
    hamburg.fail_next(429)
    new_customer(world.rep, db)
    jobs.work(once=True)
    assert 55 <= seconds_until(geocode_jobs(db)[0].run_at) <= 61


def test_timeout_is_retried_with_backoff_then_succeeds(app, world, db, hamburg):
    app.config["GEOCODER_TIMEOUT"] = 0.3
    hamburg.delay_next(3)
    customer = new_customer(world.rep, db)
    jobs.work(once=True)

    [job] = geocode_jobs(db)
    assert job.status == "queued" and job.attempts == 1
    assert "GeocoderTimedOut" in job.last_error
    assert 55 <= seconds_until(job.run_at) <= 61
    assert fresh(db, Customer, customer.id).geocode_status == "pending"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeocodeCache)) == 0

    make_due(db)
    jobs.work(once=True)
    assert fresh(db, Customer, customer.id).geocode_status == "ok"
    assert fresh(db, Job, job.id).status == "done"


def test_backoff_doubles_with_each_attempt(app):
    assert [geocoding.retry_delay(n) for n in range(1, 9)] == \
        [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_server_errors_give_up_after_the_last_attempt(app, world, db, hamburg):
    app.config["GEOCODER_MAX_ATTEMPTS"] = 2
    hamburg.fail_next(500, times=2)
    customer = new_customer(world.rep, db)
    jobs.work(once=True)
    [job] = geocode_jobs(db)
    assert job.status == "queued" and "GeocoderServiceError" in job.last_error

    make_due(db)
    jobs.work(once=True)
    job = fresh(db, Job, job.id)
    assert job.status == "failed" and "gave up after 2 attempts" in job.last_error
    customer = fresh(db, Customer, customer.id)
    assert customer.geocode_status == "failed" and customer.lat is None


def test_an_address_is_looked_up_once(world, db, hamburg):
    first = new_customer(world.rep, db)
    second = new_customer(world.rep, db, name="Alster-Kiosk", street="  jungfernstieg   1 ",
                          city="HAMBURG")
    jobs.work(once=True)
    assert len(hamburg.searches()) == 1
    for customer in (first, second):
        customer = fresh(db, Customer, customer.id)
        assert (customer.lat, customer.lon) == pytest.approx(JUNGFERNSTIEG)


def test_a_miss_is_cached_too(app, hamburg):
    assert geocoding.geocode_address("Nirgendwo 7", "20354", "Hamburg", "DE") is None
    assert geocoding.geocode_address("Nirgendwo 7", "20354", "Hamburg", "DE") is None
    assert len(hamburg.searches()) == 1


def test_hand_set_coordinates_are_kept(world, db, hamburg):
    customer = new_customer(world.rep, db, lat=53.6, lon=10.0)
    assert customer.geocode_status == "manual"
    assert geocode_jobs(db) == []


def test_pin_placed_while_the_job_waits_is_never_overwritten(world, db, hamburg):
    customer = new_customer(world.rep, db)
    update_customer(world.rep, customer, {"lat": 53.56, "lon": 9.98})  # the rep drags the pin
    db.session.commit()
    assert customer.geocode_status == "manual"

    jobs.work(once=True)
    customer = fresh(db, Customer, customer.id)
    assert (customer.lat, customer.lon, customer.geocode_status) == (53.56, 9.98, "manual")
    assert geocode_jobs(db)[0].status == "done"
    assert hamburg.searches() == []


def test_a_new_address_with_a_pin_in_the_same_change_is_manual(world, db, hamburg):
    customer = new_customer(world.rep, db)
    jobs.work(once=True)
    update_customer(world.rep, customer, {"street": "Am Sandtorkai 1", "postal_code": "20457",
                                          "lat": 53.5, "lon": 9.9})
    db.session.commit()
    assert customer.geocode_status == "manual"
    assert len(geocode_jobs(db)) == 1


def test_only_the_latest_address_is_located(world, db, hamburg):
    customer = new_customer(world.rep, db)
    update_customer(world.rep, customer, {"street": "Am Sandtorkai 1", "postal_code": "20457"})
    db.session.commit()
    assert len(geocode_jobs(db)) == 2

    assert jobs.work(once=True) == 2
    customer = fresh(db, Customer, customer.id)
    assert (customer.lat, customer.lon) == pytest.approx(SPEICHERSTADT)
    assert [r.query["street"] for r in hamburg.searches()] == ["Am Sandtorkai 1"]


def test_changed_address_moves_the_pin(world, db, hamburg):
    customer = new_customer(world.rep, db)
    jobs.work(once=True)
    update_customer(world.rep, customer, {"street": "Am Sandtorkai 1", "postal_code": "20457"})
    db.session.commit()
    assert customer.geocode_status == "pending"
    jobs.work(once=True)
    assert (fresh(db, Customer, customer.id).lat) == pytest.approx(SPEICHERSTADT[0])


def test_other_edits_leave_the_pin_alone(world, db, hamburg):
    customer = new_customer(world.rep, db)
    jobs.work(once=True)
    update_customer(world.rep, customer, {"phone": "+49 40 123456"})
    db.session.commit()
    assert customer.geocode_status == "ok" and len(geocode_jobs(db)) == 1


def test_deleted_customer_is_skipped(world, db, hamburg):
    customer = new_customer(world.rep, db)
    customer.deleted = True
    db.session.commit()
    jobs.work(once=True)
    assert hamburg.requests == [] and geocode_jobs(db)[0].status == "done"


def test_customer_without_address_is_not_queued(world, db, hamburg):
    customer = create_customer(world.rep, {"name": "Nur ein Name"})
    db.session.commit()
    assert customer.geocode_status == "none" and geocode_jobs(db) == []


def test_geocoding_can_be_switched_off(app, world, db):
    app.config["GEOCODER"] = ""
    customer = new_customer(world.rep, db)
    assert customer.geocode_status == "none" and geocode_jobs(db) == []
    assert geocoding.geocode_address("Jungfernstieg 1", "20354", "Hamburg", "DE") is None


def test_edit_form_queues_a_lookup_only_for_a_new_address(client, world, db, hamburg):
    client.login("rep1@example.com")
    customer = world.customer
    form = {"name": customer.name, "street": "Am Sandtorkai 1", "postal_code": "20457",
            "city": "Hamburg", "country": "DE", "lat": str(customer.lat), "lon": str(customer.lon),
            "status": customer.status}
    response = client.form(f"/customers/{customer.id}/edit", form)
    assert response.status_code == 303
    assert fresh(db, Customer, customer.id).geocode_status == "pending"
    assert len(geocode_jobs(db)) == 1

    response = client.form(f"/customers/{customer.id}/edit", {**form, "lat": "53,5", "lon": "9,9"})
    assert response.status_code == 303
    customer = fresh(db, Customer, customer.id)
    assert (customer.lat, customer.geocode_status) == (53.5, "manual")
    jobs.work(once=True)
    assert fresh(db, Customer, customer.id).lat == 53.5


def test_new_customer_form_without_pin_is_located(client, world, db, hamburg):
    client.login("rep1@example.com")
    response = client.form("/customers", {"name": "Alsterpavillon", **ADDRESS, "country": "DE",
                                          "lat": "", "lon": "", "status": "lead"})
    assert response.status_code == 303
    customer = db.session.scalar(sa.select(Customer).where(Customer.name == "Alsterpavillon"))
    assert customer.geocode_status == "pending"
    jobs.work(once=True)
    assert fresh(db, Customer, customer.id).geocode_status == "ok"


@pytest.mark.parametrize(("status", "text"), [
    ("pending", "Locating address…"),
    ("failed", "Address not found — set the pin by hand"),
    ("manual", "Pin set by hand"),
    ("ok", "Located from the address"),
])
def test_customer_page_shows_the_geocode_status(client, world, db, status, text):
    world.customer.geocode_status = status
    db.session.commit()
    client.login("rep1@example.com")
    page = client.get(f"/customers/{world.customer.id}").get_data(as_text=True)
    assert 'id="geocode-status"' in page and text in page


def test_worker_command_processes_the_queue(runner, world, db, hamburg):
    customer = new_customer(world.rep, db)
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "ran 1 job(s)" in result.output
    assert fresh(db, Customer, customer.id).geocode_status == "ok"


@pytest.mark.slow
def test_worker_process_runs_until_terminated(app, world, db, hamburg):
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SECRET_KEY": "test-secret", "FIELDCRM_GEOCODER_DOMAIN": hamburg.domain,
           "FIELDCRM_GEOCODER_SCHEME": "http", "FIELDCRM_GEOCODER_MIN_DELAY_S": "0",
           "FIELDCRM_GEOCODER_USER_AGENT": USER_AGENT}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "fieldcrm", "worker"],
                              env=env, cwd=Path(__file__).parent.parent,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        customer = new_customer(world.rep, db)
        deadline = time.monotonic() + 30
        while fresh(db, Customer, customer.id).geocode_status == "pending":
            assert time.monotonic() < deadline, "the worker did not geocode the customer"
            db.session.rollback()
            time.sleep(0.1)
        assert fresh(db, Customer, customer.id).geocode_status == "ok"
        db.session.rollback()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0, worker.stdout.read().decode()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stdout.close()


def test_reverse_geocoding_gives_the_address_at_a_point(app, hamburg):
    found = geocoding.reverse_geocode(JUNGFERNSTIEG[0] + 0.0001, JUNGFERNSTIEG[1])
    assert found == {"street": "Jungfernstieg 1", "postal_code": "20354", "city": "Hamburg",
                     "country": "DE"}
    [request] = hamburg.requests
    assert request.path == "/reverse" and request.user_agent == USER_AGENT
    assert geocoding.reverse_geocode(47.0, 12.0) is None


def test_reverse_geocoding_failure_raises(app, hamburg):
    from geopy.exc import GeocoderServiceError

    hamburg.fail_next(500)
    with pytest.raises(GeocoderServiceError):
        geocoding.reverse_geocode(*JUNGFERNSTIEG)


def test_typed_place_is_found_and_cached(app, hamburg):
    assert geocoding.geocode_place("Jungfernstieg 1,  Hamburg") == pytest.approx(JUNGFERNSTIEG)
    assert geocoding.geocode_place("jungfernstieg 1, hamburg") == pytest.approx(JUNGFERNSTIEG)
    [search] = hamburg.searches()
    assert search.query["q"] == "Jungfernstieg 1, Hamburg" and search.query["countrycodes"] == "de"
    assert geocoding.geocode_place("Atlantis") is None


def test_rate_limiter_spaces_requests(app, hamburg):
    app.config["GEOCODER_MIN_DELAY_S"] = 0.2
    for street in ("A 1", "B 2", "C 3"):
        geocoding.geocode_address(street, "20354", "Hamburg", "DE")
    times = [r.at for r in hamburg.searches()]
    assert all(later - earlier >= 0.18 for earlier, later in zip(times, times[1:], strict=False))


def test_job_for_an_unknown_customer_does_nothing(app, db, hamburg):
    jobs.enqueue("geocode", {"customer_id": str(uuid.uuid4()), "address": "a:de||hamburg|x"})
    jobs.enqueue("geocode", {"customer_id": "not-a-uuid"})
    db.session.commit()
    assert jobs.work(once=True) == 2
    assert [job.status for job in geocode_jobs(db)] == ["done", "done"]
    assert hamburg.requests == []


def test_dragging_the_pin_sets_the_location_by_hand(client, world, db):
    client.login("rep1@example.com")
    page = client.get(f"/customers/{world.customer.id}").get_data(as_text=True)
    assert 'id="customer-pin"' in page and f'/customers/{world.customer.id}/location' in page
    response = client.form(f"/customers/{world.customer.id}/location", {"lat": "53.561234", "lon": "10.012345"})
    assert response.status_code == 200
    assert "Pin set by hand" in response.get_data(as_text=True)
    customer = fresh(db, Customer, world.customer.id)
    assert (customer.lat, customer.lon, customer.geocode_status) == (53.561234, 10.012345, "manual")
    changed = db.session.scalars(sa.select(History.field).where(
        History.customer_id == customer.id, History.kind == "change")).all()
    assert {"lat", "lon"} <= set(changed)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.kind == "geocode")) == 0


@pytest.mark.parametrize(("lat", "lon", "message"), [
    ("91", "10", "90"), ("nan", "10", ""), ("abc", "10", ""), ("", "10", "required"), ("53.5", "", "required"),
])
def test_a_bad_pin_position_changes_nothing(client, world, db, lat, lon, message):
    before = (world.customer.lat, world.customer.lon, world.customer.version)
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/location", {"lat": lat, "lon": lon})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'role="alert"' in text and message in text
    customer = fresh(db, Customer, world.customer.id)
    assert (customer.lat, customer.lon, customer.version) == before

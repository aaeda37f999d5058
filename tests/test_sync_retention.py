"""Tombstone retention: old tombstones nothing refers to are purged, and a device whose
cursor is older than a purged tombstone gets a full pull (reset) instead of missing a delete."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from support import Device

from fieldcrm.extensions import db as _db
from fieldcrm.models import Contact, Customer, Note, SyncCounter, Visit, utcnow
from fieldcrm.sync.retention import purge_tombstones


@pytest.fixture
def rep_device(make_client, world):
    return Device(make_client(), "rep1@example.com")


def _age(model, row_id, days: int) -> None:
    """Pretend the row was last changed ``days`` ago (its tombstone too)."""
    _db.session.execute(sa.update(model).where(model.id == row_id)
                        .values(updated_at=utcnow() - timedelta(days=days)))
    _db.session.commit()


def _delete(device: Device, entity: str, row) -> int:
    """Delete through sync, as a phone would; the tombstone's version."""
    result = device.push(device.mutation(entity, row.id, op="delete", base=row.version))["results"][0]
    assert result["status"] == "applied", result
    return result["version"]


def test_old_unreferenced_tombstones_are_purged_and_old_cursors_reset(
        rep_device, world, make_contact, make_customer, db):
    rep_device.pull()
    before_purge = rep_device.cursor
    old = make_contact(world.customer, name="Old Tombstone")
    young = make_contact(world.customer, name="Young Tombstone")
    gone_customer = make_customer(name="Closed GmbH", territory_id=world.north.id,
                                  owner_id=world.rep.id)
    old_id = old.id
    old_version = _delete(rep_device, "contact", old)
    _delete(rep_device, "contact", young)
    _delete(rep_device, "customer", gone_customer)
    _age(Contact, old_id, 91)
    _age(Customer, gone_customer.id, 91)
    rep_device.pull()
    after_deletes = rep_device.cursor

    assert purge_tombstones() == {"contact": 1}
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Contact, old_id) is None
    assert db.session.get(Contact, young.id).deleted  # younger than the retention
    assert db.session.get(Contact, world.contact.id) is not None  # live
    # The customer's history still points at it: its tombstone stays.
    assert db.session.get(Customer, gone_customer.id).deleted
    assert db.session.scalar(sa.select(SyncCounter.purged_version)) == old_version

    stale = Device(rep_device.client, "rep1@example.com")
    stale.id, stale.cursor = rep_device.id, before_purge
    body = stale.pull()
    assert body.get("reset") is True  # it could not learn of the purged delete otherwise
    assert ("contact", str(world.contact.id)) in stale.rows
    assert ("contact", str(young.id)) not in stale.rows
    rep_device.cursor = after_deletes
    assert "reset" not in rep_device.pull()  # it saw the tombstone before it was purged


def test_a_deleted_visit_with_a_note_stays(rep_device, world, db):
    visit = Visit(customer_id=world.customer.id, user_id=world.rep.id,
                  planned_at=utcnow() + timedelta(days=1))
    db.session.add(visit)
    db.session.commit()
    note = Note(customer_id=world.customer.id, visit_id=visit.id, user_id=world.rep.id,
                channel="visit", body="Planned the autumn offer.")
    db.session.add(note)
    db.session.commit()
    _delete(rep_device, "visit", visit)
    _age(Visit, visit.id, 400)
    purged_before = db.session.scalar(sa.select(SyncCounter.purged_version))
    assert purge_tombstones() == {}
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Visit, visit.id).deleted
    assert db.session.scalar(sa.select(SyncCounter.purged_version)) == purged_before


def test_purge_command_and_retention_setting(app, world, make_contact, rep_device, db):
    contact = make_contact(world.customer, name="Ten Days Gone")
    contact_id, live_id = contact.id, world.contact.id
    _delete(rep_device, "contact", contact)
    _age(Contact, contact_id, 10)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["fieldcrm", "purge-tombstones"]).output.strip() == "nothing to purge"
    refused = runner.invoke(args=["fieldcrm", "purge-tombstones", "--days", "0"])
    assert refused.exit_code == 2 and "0 is not in the range x>=1" in refused.output
    result = runner.invoke(args=["fieldcrm", "purge-tombstones", "--days", "7"])
    assert result.exit_code == 0 and result.output.strip() == "contact: 1"
    db.session.expire_all()
    assert db.session.get(Contact, contact_id) is None
    assert db.session.get(Contact, live_id) is not None

"""The migrations build exactly the schema the models describe, and versions behave."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fieldcrm.models import Customer, History, managed_by_models


def test_migrations_match_models(app, db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": managed_by_models})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_write_takes_a_new_version_in_commit_order(db, make_customer):
    first = make_customer(name="Erste")
    second = make_customer(name="Zweite")
    assert second.version > first.version
    first.city = "Bremen"
    db.session.commit()
    assert first.version > second.version


def test_delete_is_a_tombstone_with_history(db, world):
    from fieldcrm.customers.operations import delete_customer

    delete_customer(world.customer)
    db.session.commit()
    row = db.session.get(Customer, world.customer.id)
    assert row is not None and row.deleted
    kinds = db.session.scalars(sa.select(History.kind).where(History.customer_id == row.id)).all()
    assert "deleted" in kinds


def test_history_records_who_what_old_new(db, world):
    from fieldcrm.customers.operations import update_contact, update_customer

    db.session.info["actor_id"] = world.rep.id
    update_customer(world.rep, world.customer, {"city": "Altona", "abc_class": "A"})
    update_contact(world.rep, world.contact, {"phone": "+49 40 999999"})
    db.session.commit()
    rows = db.session.scalars(sa.select(History).where(History.kind == "change")).all()
    changes = {(r.entity, r.field): (r.old, r.new) for r in rows}
    assert changes[("customer", "city")] == ("Hamburg", "Altona")
    assert changes[("customer", "abc_class")] == (None, "A")
    assert changes[("contact", "phone")] == (None, "+49 40 999999")
    assert all(r.customer_id == world.customer.id and r.user_id == world.rep.id for r in rows)


def test_unchanged_values_write_no_history(db, world):
    from fieldcrm.customers.operations import update_customer

    before = db.session.scalar(sa.select(sa.func.count()).select_from(History))
    update_customer(world.rep, world.customer, {"city": world.customer.city})
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(History)) == before


def test_spatial_index_survives_every_migration(db):
    """Later migrations must not drop the R*Tree triggers (SQLite) or the GiST index."""
    if db.engine.dialect.name == "sqlite":
        names = db.session.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        assert {"customer_geo_insert", "customer_geo_update", "customer_geo_delete"} <= set(names)
    else:
        names = db.session.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'customer'")).all()
        assert {"ix_customer_geo", "ix_customer_mercator"} <= set(names)


def test_changed_fields_are_stamped_with_their_version(db, world):
    from fieldcrm.customers.operations import update_customer

    update_customer(world.rep, world.customer, {"phone": "+49 40 1234567"})
    db.session.commit()
    version, effective_at, client_id, mutation_id = world.customer.field_meta["phone"]
    assert version == world.customer.version and client_id == "" and mutation_id == 0
    assert "city" not in world.customer.field_meta


def test_every_sqlite_connection_gets_its_pragmas(db):
    """Foreign keys, WAL and the memory map are set per connection (SQLite forgets them)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps its settings on the server")
    read = lambda name: db.session.execute(sa.text(f"PRAGMA {name}")).scalar()  # noqa: E731
    assert read("foreign_keys") == 1
    assert read("journal_mode") == "wal"
    assert read("mmap_size") == 256 * 1024 * 1024

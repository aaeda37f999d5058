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


def test_exact_rtree_migration_keeps_every_customer_both_ways(tmp_path):
    """Migration 0008 (SQLite) builds the exact R*Tree from the customers already there
    and gives 0006's back on downgrade: same entries, positions and codes each way."""
    from flask_migrate import downgrade, upgrade

    from fieldcrm import create_app
    from fieldcrm.extensions import db as _db
    from fieldcrm.geo import GEO_INDEX, RTREE_LAT, RTREE_LON

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite'}",
                      "SECRET_KEY": "x", "TESTING": True})
    rows = [(1, 53.551234567891234, 9.993216549873214, 0, "aa" * 16, "bb" * 16),
            (2, -33.86882012345678, 151.20929598765432, 0, None, "bb" * 16),
            (3, 48.1, 11.5, 1, "aa" * 16, None), (4, None, None, 0, None, None)]
    with app.app_context():
        upgrade(revision="7c4e2a9f1b06")
        # Ids of territories and users that need not exist for the index.
        _db.session.execute(sa.text("PRAGMA foreign_keys = OFF"))
        for seq, lat, lon, deleted, territory, owner in rows:
            _db.session.execute(sa.text(
                "INSERT INTO customer (id, version, seq, deleted, field_meta, name, street, "
                "postal_code, city, country, phone, email, website, status, industry, "
                "opening_hours, marketing_consent, geocode_status, abc_manual, revenue_12m, "
                "risk_reason, created_at, updated_at, lat, lon, territory_id, owner_id) "
                "VALUES (:id, :seq, :seq, "
                ":deleted, '{}', 'K', '', '', '', 'DE', '', '', '', 'lead', '', '', 0, 'ok', 0, "
                "0, '', '2026-11-23', '2026-11-23', :lat, :lon, :territory, :owner)"),
                {"id": f"{seq:032x}", "seq": seq, "deleted": deleted, "lat": lat, "lon": lon,
                 "territory": territory, "owner": owner})
        _db.session.commit()
        upgrade()
        entries = _db.session.execute(sa.select(
            GEO_INDEX.c.seq, RTREE_LAT, RTREE_LON, GEO_INDEX.c.min_territory,
            GEO_INDEX.c.min_owner).order_by(GEO_INDEX.c.seq)).all()
        assert [seq for seq, *_ in entries] == [1, 2]
        assert [value for _, lat, lon, _, _ in entries for value in (lat, lon)] == pytest.approx(
            [53.551234567891234, 9.993216549873214, -33.86882012345678, 151.20929598765432],
            abs=2.0 ** -38, rel=0)
        codes = dict(_db.session.execute(sa.text("SELECT key, code FROM customer_geo_key")).all())
        scale = 2.0 ** -40
        assert [(t, o) for *_, t, o in entries] == [
            (codes["aa" * 16] * scale, codes["bb" * 16] * scale), (0.0, codes["bb" * 16] * scale)]
        downgrade(revision="7c4e2a9f1b06")
        assert _db.session.execute(sa.text(
            "SELECT seq, lat, lon FROM customer_geo ORDER BY seq")).all() == [
            (1, 53.551234567891234, 9.993216549873214), (2, -33.86882012345678, 151.20929598765432)]
        upgrade()
        assert _db.session.execute(sa.select(sa.func.count()).select_from(GEO_INDEX)).scalar() == 2
        _db.engine.dispose()


def test_an_idle_connection_the_database_dropped_is_replaced(db, monkeypatch):
    """Pooled connections are pinged only after PING_AFTER_IDLE_S idle: one the database
    dropped meanwhile (a restart) is replaced before use, not handed to a request; one in
    steady use is not pinged (no extra round trip per request), so its loss fails once."""
    import fieldcrm

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite files do not drop connections")
    db.session.remove()

    def pid(connection):
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()

    def drop(backend):
        killer = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
        with killer.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({backend})")
            connection.commit()
        killer.dispose()

    with db.engine.connect() as connection:
        first = pid(connection)
    drop(first)
    # Steady use (back within the idle time): not pinged, so the loss shows once.
    with pytest.raises(sa.exc.DBAPIError), db.engine.connect() as connection:
        pid(connection)
    with db.engine.connect() as connection:
        second = pid(connection)
    assert second != first
    # Idle: pinged, found gone and replaced before use.
    monkeypatch.setattr(fieldcrm, "PING_AFTER_IDLE_S", 0.0)
    drop(second)
    with db.engine.connect() as connection:
        assert pid(connection) not in (first, second)


def test_refresh_statistics_gathers_sqlites_statistics(tmp_path):
    """``refresh_statistics`` (after a large import) leaves SQLite with statistics for the
    customer table's indexes; a fresh database of its own, as the shared one's statistics
    steer other tests' plans."""
    from support import migrated_sqlite

    from fieldcrm.extensions import refresh_statistics

    with migrated_sqlite(tmp_path / "fresh.sqlite") as fresh_db:
        fresh_db.session.add_all([Customer(name=f"K{i}", postal_code=f"{20000 + i}")
                                  for i in range(50)])
        fresh_db.session.commit()
        refresh_statistics()
        indexes = fresh_db.session.scalars(sa.text(
            "SELECT idx FROM sqlite_stat1 WHERE tbl = 'customer'")).all()
        assert {"ix_customer_name", "ix_customer_postal_code"} <= set(indexes)

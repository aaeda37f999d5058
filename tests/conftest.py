"""Fixtures: an app on a freshly migrated database (SQLite and PostgreSQL), clients, factories.

Every integration test runs twice: on SQLite and on PostgreSQL (TEST_DATABASE_URL).
Without TEST_DATABASE_URL the PostgreSQL half is skipped locally but fails in CI
(CI=true), so a missing database can never pass silently.
"""

import contextvars
import os
import uuid
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from support import PASSWORD, Client, app_config, postgres_database

from fieldcrm import create_app
from fieldcrm.extensions import db as _db
from fieldcrm.models import Contact, Customer, Product, Territory, User


def migrate_database(url: str) -> None:
    """Bring a fresh database to the newest schema with the real Alembic migrations."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    with app.app_context():
        upgrade()
        _db.engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A migrated database per backend and xdist worker, reused by all tests of the session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    else:
        url = postgres_database(os.environ.get("PYTEST_XDIST_WORKER", "main"))
        if url is None:
            pytest.skip("TEST_DATABASE_URL not set (PostgreSQL suite skipped outside CI)")
    migrate_database(url)
    return url


def clear_tables() -> None:
    """Delete every row except the version counter (its value only ever grows)."""
    for table in reversed(_db.metadata.sorted_tables):
        if table.name != "sync_counter":
            _db.session.execute(table.delete())
    _db.session.commit()


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as in production.

    The test body holds an app context for its own database work; without this,
    requests would reuse it and share ``g`` (the logged-in user, the CSRF token,
    the locale) with each other and with the test.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def app(database_url):
    app = create_app(app_config(database_url))
    app.test_client_class = IsolatedClient
    with app.app_context():
        clear_tables()
        yield app
        _db.session.remove()
        clear_tables()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return Client(app.test_client())


@pytest.fixture
def make_client(app):
    return lambda: Client(app.test_client())


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(db):
    from fieldcrm.auth import hash_password

    def make(role="rep", email=None, name=None, password=PASSWORD, **fields) -> User:
        tag = uuid.uuid4().hex[:6]
        user = User(email=email or f"{role}-{tag}@example.com", name=name or f"{role.title()} {tag}",
                    role=role, password_hash=hash_password(password), **fields)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_territory(db):
    def make(name="Nord", manager=None, reps=()) -> Territory:
        territory = Territory(name=name, manager_id=manager.id if manager else None, reps=list(reps))
        db.session.add(territory)
        db.session.commit()
        return territory

    return make


@pytest.fixture
def make_customer(db):
    def make(**overrides) -> Customer:
        values = {"name": "Bäckerei Müller GmbH", "street": "Hauptstraße 1", "postal_code": "20095",
                  "city": "Hamburg", "status": "customer", "lat": 53.55, "lon": 9.99}
        values.update(overrides)
        customer = Customer(**values)
        db.session.add(customer)
        db.session.commit()
        return customer

    return make


@pytest.fixture
def make_contact(db):
    def make(customer: Customer, **overrides) -> Contact:
        contact = Contact(customer_id=customer.id, **({"name": "Anna Schmidt", "role": "Einkauf"} | overrides))
        db.session.add(contact)
        db.session.commit()
        return contact

    return make


@pytest.fixture
def make_product(db):
    def make(**overrides) -> Product:
        values = {"sku": f"SKU-{uuid.uuid4().hex[:6]}", "name": "Kaffee 1 kg", "unit": "kg",
                  "net_price": Decimal("12.50"), "vat_rate": Decimal("7.00")}
        product = Product(**(values | overrides))
        db.session.add(product)
        db.session.commit()
        return product

    return make


class World:
    """The standard cast: two territories, their reps, a manager of the first, an admin."""


@pytest.fixture
def world(make_user, make_territory, make_customer, make_contact):
    w = World()
    w.admin = make_user("admin", email="admin@example.com", name="Ada Admin")
    w.manager = make_user("manager", email="manager@example.com", name="Max Manager")
    w.rep = make_user("rep", email="rep1@example.com", name="Rita Rep")
    w.other_rep = make_user("rep", email="rep2@example.com", name="Otto Other")
    w.north = make_territory("Nord", manager=w.manager, reps=[w.rep])
    w.south = make_territory("Süd", reps=[w.other_rep])
    w.customer = make_customer(territory_id=w.north.id, owner_id=w.rep.id)
    w.contact = make_contact(w.customer)
    w.other_customer = make_customer(name="Metzgerei Huber", postal_code="80331", city="München",
                                     territory_id=w.south.id, owner_id=w.other_rep.id)
    return w


@pytest.fixture
def cast(world, make_product):
    """The standard cast plus one product, for the authorization matrix."""
    world.product = make_product()
    return world

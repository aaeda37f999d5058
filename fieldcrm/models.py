"""The database schema: typed SQLAlchemy 2.0 models.

Every syncable row (customers, contacts, products, territories, and later
visits, notes, orders, follow-ups) has a client-generatable UUID key, a
``version`` taken from the one counter in ``sync_counter`` and a ``deleted``
tombstone flag. Versions are assigned in one place, ``fieldcrm.versioning``,
inside the writing transaction.
"""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .extensions import db

ROLES = ("rep", "manager", "admin")
GEOCODE_STATUSES = ("none", "pending", "ok", "failed", "manual")
JOB_STATUSES = ("queued", "running", "done", "failed")
VISIT_OUTCOMES = ("order_taken", "followup_agreed", "no_decision", "not_met", "other")
NOTE_CHANNELS = ("visit", "phone", "email", "letter", "other")
ORDER_STATUSES = ("draft", "submitted", "confirmed", "cancelled")
CUSTOMER_STATUSES = ("lead", "prospect", "customer", "at_risk", "lost")
ABC_CLASSES = ("A", "B", "C")


# Spatial index objects made by raw SQL in migrations 0002 and 0007 (an R*Tree on SQLite,
# GiST expression indexes on PostgreSQL); autogenerate and the schema test skip them.
SPATIAL_OBJECTS = ("customer_geo", "ix_customer_geo", "ix_customer_mercator")


def managed_by_models(name: str | None, type_: str, parent_names) -> bool:
    """False for database objects the models do not describe (Alembic include_name)."""
    return not (name and name.startswith(SPATIAL_OBJECTS))


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite keeps the naive UTC value, so the
    zone is attached again on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; fieldcrm stores only aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Money = sa.Numeric(12, 2, asdecimal=True)


class SyncCounter(db.Model):
    """The single row whose ``value`` hands out versions in commit order; ``purged_version``
    is the highest version of a purged tombstone (fieldcrm.sync.retention)."""

    __tablename__ = "sync_counter"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    purged_version: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


class Syncable:
    """Columns shared by every row the offline client may hold."""

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(sa.BigInteger, index=True, default=0)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


territory_reps = sa.Table(
    "territory_rep",
    db.metadata,
    sa.Column("territory_id", sa.Uuid, sa.ForeignKey("territory.id"), primary_key=True),
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("user.id"), primary_key=True, index=True),
)


class User(UserMixin, db.Model):
    """A person who logs in: a rep, a manager or an admin."""

    __tablename__ = "user"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default="rep")
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Berlin")
    home_lat: Mapped[float | None]
    home_lon: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    territories: Mapped[list["Territory"]] = relationship(
        secondary=territory_reps, back_populates="reps"
    )

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)


class Territory(Syncable, db.Model):
    """A sales territory: a manager, the reps working it, the customers in it."""

    __tablename__ = "territory"
    name: Mapped[str] = mapped_column(sa.String(120))
    manager_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user.id"), index=True)
    postal_codes: Mapped[list] = mapped_column(sa.JSON, default=list)

    manager: Mapped[User | None] = relationship(foreign_keys=[manager_id])
    reps: Mapped[list[User]] = relationship(secondary=territory_reps, back_populates="territories")


class Customer(Syncable, db.Model):
    """A company the field force sells to."""

    __tablename__ = "customer"
    __table_args__ = (
        sa.Index("ix_customer_territory_name", "territory_id", "name", "id"),
        sa.Index("ix_customer_owner_name", "owner_id", "name", "id"),
        sa.Index("ix_customer_name", "name", "id"),
        sa.Index("ix_customer_postal_code", "postal_code"),
        # For searches with a status few customers have (migration 0009).
        sa.Index("ix_customer_status_class", "status", "abc_class",
                 postgresql_where=sa.text("NOT deleted AND lat IS NOT NULL AND lon IS NOT NULL"),
                 sqlite_where=sa.text("deleted = 0 AND lat IS NOT NULL AND lon IS NOT NULL")),
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    street: Mapped[str] = mapped_column(sa.String(200), default="")
    postal_code: Mapped[str] = mapped_column(sa.String(16), default="")
    city: Mapped[str] = mapped_column(sa.String(100), default="")
    country: Mapped[str] = mapped_column(sa.String(2), default="DE")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    website: Mapped[str] = mapped_column(sa.String(300), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="lead")
    abc_class: Mapped[str | None] = mapped_column(sa.String(1))
    industry: Mapped[str] = mapped_column(sa.String(100), default="")
    visit_interval_days: Mapped[int | None]
    opening_hours: Mapped[str] = mapped_column(sa.String(500), default="")
    marketing_consent: Mapped[bool] = mapped_column(default=False)
    marketing_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user.id"))
    territory_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("territory.id"))
    # A small integer key for spatial indexes (SQLite's R*Tree takes only integer ids):
    # the customer's first version, unique because versions are.
    seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    geocode_status: Mapped[str] = mapped_column(sa.String(16), default="none")
    geocoded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept by the visit operations so "due for a visit" needs no join over all visits.
    last_visited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # abc_class set by hand survives the nightly ABC recompute.
    abc_manual: Mapped[bool] = mapped_column(default=False)
    revenue_12m: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    risk_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    # Per field: [version, effective time, client id, mutation id] of its last change,
    # kept by fieldcrm.versioning; the sync merge decides conflicts with it.
    field_meta: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    owner: Mapped[User | None] = relationship()
    territory: Mapped[Territory | None] = relationship()

    @property
    def address_line(self) -> str:
        place = " ".join(part for part in (self.postal_code, self.city) if part)
        return ", ".join(part for part in (self.street, place) if part)


class Contact(Syncable, db.Model):
    """A person at a customer."""

    __tablename__ = "contact"
    field_meta: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[str] = mapped_column(sa.String(120), default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    birthday: Mapped[date | None]

    customer: Mapped[Customer] = relationship()


class Product(Syncable, db.Model):
    """An item of the catalogue; prices are net, in EUR."""

    __tablename__ = "product"
    sku: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(20), default="pc")
    net_price: Mapped[Decimal] = mapped_column(Money)
    vat_rate: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2, asdecimal=True))
    active: Mapped[bool] = mapped_column(default=True)


class History(db.Model):
    """One entry of a customer's shared history: a field change, a conflict, an activity."""

    __tablename__ = "history"
    __table_args__ = (sa.Index("ix_history_customer_at", "customer_id", "at", "id"),)
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(sa.BigInteger, index=True, default=0)
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customer.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    entity: Mapped[str] = mapped_column(sa.String(16))
    entity_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    field: Mapped[str | None] = mapped_column(sa.String(64))
    old: Mapped[str | None] = mapped_column(sa.Text)
    new: Mapped[str | None] = mapped_column(sa.Text)
    ref_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)

    user: Mapped[User | None] = relationship()


class ApiToken(db.Model):
    """A bearer token for integrations; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginAttempt(db.Model):
    """A failed login, kept for the rate limit (shared by all app processes)."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_email_at", "email", "at"),
        sa.Index("ix_login_attempt_ip_at", "ip", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    ip: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(db.Model):
    """A unit of background work (geocoding, imports), taken by any worker process.

    Workers claim due jobs with row locks (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL) so several can run at once; ``locked_until`` lets another worker
    take over the job of one that died.
    """

    __tablename__ = "job"
    __table_args__ = (sa.Index("ix_job_due", "status", "run_at"),)
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    locked_by: Mapped[str | None] = mapped_column(sa.String(64))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GeocodeCache(db.Model):
    """A provider's answer for one normalized address, so no address is looked up twice."""

    __tablename__ = "geocode_cache"
    query: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    found: Mapped[bool] = mapped_column(default=False)
    provider: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportBatch(db.Model):
    """An uploaded CSV file, its column mapping and the progress of importing it."""

    __tablename__ = "import_batch"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    encoding: Mapped[str] = mapped_column(sa.String(32))
    delimiter: Mapped[str] = mapped_column(sa.String(1))
    columns: Mapped[list] = mapped_column(sa.JSON, default=list)
    mapping: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    on_duplicate: Mapped[str] = mapped_column(sa.String(16), default="skip")
    territory_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("territory.id"))
    status: Mapped[str] = mapped_column(sa.String(16), default="uploaded")
    total_rows: Mapped[int] = mapped_column(default=0)
    done_rows: Mapped[int] = mapped_column(default=0)
    created_rows: Mapped[int] = mapped_column(default=0)
    updated_rows: Mapped[int] = mapped_column(default=0)
    skipped_rows: Mapped[int] = mapped_column(default=0)
    error_rows: Mapped[int] = mapped_column(default=0)
    message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportRowError(db.Model):
    """A CSV row that was not imported, with the reason, for the downloadable report."""

    __tablename__ = "import_row_error"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("import_batch.id"), index=True)
    line: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.Text)
    raw: Mapped[str] = mapped_column(sa.Text)


class Visit(Syncable, db.Model):
    """A visit at a customer: planned (an appointment), checked in, checked out."""

    __tablename__ = "visit"
    __table_args__ = (
        sa.Index("ix_visit_customer_in", "customer_id", "checked_in_at"),
        sa.Index("ix_visit_user_planned", "user_id", "planned_at"),
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customer.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id"))
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    distance_m: Mapped[float | None]
    far_away: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str | None] = mapped_column(sa.String(32))

    customer: Mapped[Customer] = relationship()
    user: Mapped[User] = relationship()


class Note(Syncable, db.Model):
    """A note on a customer, taken on a visit, a call, a mail or a letter."""

    __tablename__ = "note"
    __table_args__ = (sa.Index("ix_note_customer_created", "customer_id", "created_at"),)
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customer.id"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("visit.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id"))
    channel: Mapped[str] = mapped_column(sa.String(16), default="visit")
    body: Mapped[str] = mapped_column(sa.Text)

    user: Mapped[User] = relationship()


class Order(Syncable, db.Model):
    """An order: lines priced from the catalogue by the server; immutable once submitted."""

    __tablename__ = "order"
    __table_args__ = (sa.Index("ix_order_customer_created", "customer_id", "created_at"),)
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customer.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("visit.id"))
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    discount_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2, asdecimal=True), default=Decimal("0"))
    net_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    vat_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    gross_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship()
    user: Mapped[User] = relationship()
    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", order_by="OrderLine.position", cascade="all, delete-orphan"
    )


class OrderLine(db.Model):
    """One priced line of an order (part of the order, not synced on its own)."""

    __tablename__ = "order_line"
    __table_args__ = (sa.Index("ix_order_line_product", "product_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("order.id"), index=True)
    position: Mapped[int]
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("product.id"))
    quantity: Mapped[Decimal] = mapped_column(sa.Numeric(12, 3, asdecimal=True))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2, asdecimal=True), default=Decimal("0"))
    vat_rate: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2, asdecimal=True))
    net: Mapped[Decimal] = mapped_column(Money)
    vat: Mapped[Decimal] = mapped_column(Money)

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class Followup(Syncable, db.Model):
    """Something to do for a customer by a due time: "call back Friday about the offer"."""

    __tablename__ = "followup"
    __table_args__ = (sa.Index("ix_followup_assignee_due", "assignee_id", "done_at", "due_at"),
                      sa.Index("ix_followup_customer", "customer_id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customer.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user.id"))

    customer: Mapped[Customer] = relationship()
    assignee: Mapped[User] = relationship(foreign_keys=[assignee_id])


class Setting(db.Model):
    """An admin-set value (discount limit, ABC thresholds, cadence, …), JSON-encoded."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[dict | list | str | int | float | None] = mapped_column(sa.JSON)


class SyncClient(db.Model):
    """A device of a user, and the last of its mutations the server has processed."""

    __tablename__ = "sync_client"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id"), index=True)
    last_mutation_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncRejection(db.Model):
    """A pushed mutation the server could not apply, kept with what the user typed."""

    __tablename__ = "sync_rejection"
    __table_args__ = (sa.Index("ix_sync_rejection_user", "user_id", "dismissed_at"),)
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("sync_client.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id"))
    mutation_id: Mapped[int] = mapped_column(sa.BigInteger)
    entity: Mapped[str] = mapped_column(sa.String(16))
    entity_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    op: Mapped[str] = mapped_column(sa.String(8))
    fields: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    reason: Mapped[str] = mapped_column(sa.String(32))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

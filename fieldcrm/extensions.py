"""Flask extensions, created once here and bound to the app in create_app()."""

import sqlalchemy as sa
from flask_babel import Babel
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=naming_convention))
migrate = Migrate()
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
htmx = HTMX()


def flush() -> None:
    """Flush the session, unless a sync push is collecting the writes of many new rows
    for one flush (``fieldcrm.sync.push``). The creates a push may collect call this."""
    if not db.session.info.get("collect_writes"):
        db.session.flush()


def insert_unless_present(table: sa.Table, **values) -> sa.Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the database's words (SQLite or PostgreSQL).

    Of two requests that both found no row and insert it at once, one inserts and the
    other does nothing, where a plain INSERT would fail the second with a unique
    violation (a 500). The caller reads the row afterwards.
    """
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing()


def refresh_statistics() -> None:
    """The query planner's statistics, now: after a bulk change (an import of thousands of
    customers). SQLite otherwise refreshes them when a connection closes (``PRAGMA
    optimize``, up to an hour later), and plans the customer list and the nearest search
    badly meanwhile (docs/PERFORMANCE.md); ``analysis_limit`` keeps this to milliseconds.
    PostgreSQL's autovacuum analyzes on its own."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


# session.info keys that hold what one transaction read or reserved (settings, a block of
# versions); dropped when the outer transaction ends, commit or rollback.
TRANSACTION_INFO_KEYS = ("settings", "reserved_versions")


@event.listens_for(Session, "after_transaction_end")
def _forget_transaction_info(session: Session, transaction) -> None:
    if transaction.parent is None:
        for key in TRANSACTION_INFO_KEYS:
            session.info.pop(key, None)

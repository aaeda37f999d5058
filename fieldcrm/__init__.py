"""fieldcrm: a mobile-first, offline-capable CRM for field sales."""

import os
import secrets
import time
from pathlib import Path

from flask import Flask, request
from flask_login import current_user
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from .config import Config
from .extensions import babel, csrf, db, htmx, login_manager, migrate


def create_app(config: dict | None = None) -> Flask:
    """Build the app: config from the environment, overridden by ``config`` (tests)."""
    app = Flask(__name__, instance_relative_config=True)
    # Keys in the order the contract lists them; sorting 20,000 rows' keys is a sync pull's cost.
    app.json.sort_keys = False
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            app.instance_path, "fieldcrm.sqlite"
        )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Recycled connections close, and closing runs PRAGMA optimize.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_recycle": 3600}
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)

    from . import auth, formatting, versioning  # noqa: F401  (registers hooks)
    from .cli import register_cli
    from .errors import register_error_handlers
    from .routes import register_blueprints

    formatting.init_app(app)
    register_error_handlers(app)
    register_blueprints(app)
    register_cli(app)
    app.before_request(auth.protect_csrf)
    app.after_request(_security_headers)
    return app


def _instance_secret(app: Flask) -> str:
    """A SECRET_KEY generated once and kept in the instance folder (never in git)."""
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _select_locale() -> str | None:
    if current_user and current_user.is_authenticated and current_user.locale:
        return current_user.locale
    return request.accept_languages.best_match(("de", "en"), default="en")


def _select_timezone() -> str | None:
    if current_user and current_user.is_authenticated:
        return current_user.timezone
    return None


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


SQLITE_MMAP_BYTES = 256 * 1024 * 1024


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Foreign keys on, WAL for concurrent readers, bounded ANALYZE and reads through a
    memory map, for every SQLite connection.

    The map spares a copy per page read: the nearest-customer search reads a few hundred
    R*Tree and row pages at random and took a third less CPU with it (docs/GEO.md).
    """
    if _is_sqlite(dbapi_connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA analysis_limit=1000")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()


@event.listens_for(Pool, "close")
def _sqlite_optimize(dbapi_connection, connection_record) -> None:
    """Refresh the planner's statistics when a SQLite connection closes (SQLite's advice).

    Without them SQLite sorts every customer in scope for the list page instead
    of walking the name index (see docs/PERFORMANCE.md); PostgreSQL's autovacuum
    does this on its own.
    """
    if _is_sqlite(dbapi_connection):
        dbapi_connection.execute("PRAGMA optimize")


# A pooled connection idle for longer than this is pinged before use, and replaced if the
# database has dropped it (a restart, a failover). One in steady use is not pinged:
# SQLAlchemy's pool_pre_ping pinged on every checkout, a round trip and ~0.5 ms of CPU per
# request on PostgreSQL. A connection dropped while in steady use fails one request, and
# SQLAlchemy then replaces the whole pool.
PING_AFTER_IDLE_S = 10.0


@event.listens_for(Pool, "checkin")
def _note_idle(dbapi_connection, connection_record) -> None:
    connection_record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_when_idle(dbapi_connection, connection_record, connection_proxy) -> None:
    since = connection_record.info.get("idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_S or _is_sqlite(dbapi_connection):
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # the driver's own error types: any failure means "gone"
        raise exc.DisconnectionError("idle connection gone") from error

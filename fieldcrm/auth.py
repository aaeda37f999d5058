"""Who is calling: session logins, bearer tokens, password hashing, the login rate limit."""

import hashlib
import secrets
import uuid
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import api_error, wants_json
from .extensions import csrf, db, login_manager
from .models import ApiToken, LoginAttempt, User, utcnow

login_manager.login_view = "auth.login"
# Off: "basic" only marks a session not fresh (nothing here asks for a fresh login), and to
# do so it rewrites the pre-login session of any request that carries it. The service
# worker fetches the app shell while the user logs in; that answer's cookie arrived after
# the login's and logged the user out again (seen in the two-device browser test).
login_manager.session_protection = None
_DUMMY_HASH = generate_password_hash("not-a-password", method="pbkdf2:sha256:1000")


def hash_password(password: str) -> str:
    """A salted hash with the configured method (scrypt by default)."""
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def normalize_email(email: str) -> str:
    """As stored: trimmed, lower case. Without NUL, which no stored address holds and
    PostgreSQL refuses in a parameter (a login typed with one was a 500)."""
    return (email or "").replace("\x00", "").strip().lower()


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None. Time does not reveal which was wrong."""
    user = db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    return user


def login_blocked_until(email: str, ip: str) -> datetime | None:
    """When the next attempt is allowed, if this email or address failed too often recently."""
    window = current_app.config["LOGIN_WINDOW"]
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    since = utcnow() - window
    for column, value, allowed in ((LoginAttempt.email, normalize_email(email), limit),
                                   (LoginAttempt.ip, ip, limit * 4)):
        times = db.session.scalars(
            sa.select(LoginAttempt.at).where(column == value, LoginAttempt.at > since)
            .order_by(LoginAttempt.at.desc()).limit(allowed)
        ).all()
        if len(times) >= allowed:
            return times[-1] + window
    return None


def record_login_failure(email: str, ip: str) -> None:
    db.session.add(LoginAttempt(email=normalize_email(email)[:254], ip=ip[:64]))
    db.session.commit()


def clear_login_failures(email: str) -> None:
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.email == normalize_email(email)))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new bearer token for ``user``; the clear text is returned once and never stored."""
    clear = "fcrm_" + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=token_digest(clear))
    db.session.add(token)
    db.session.commit()
    return token, clear


def revoke_api_token(user: User, token_id: uuid.UUID) -> bool:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    db.session.commit()
    return True


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None


@login_manager.request_loader
def _load_user_from_token(req) -> User | None:
    clear = bearer_token()
    if not clear:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_digest(clear)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    g.api_token = token
    return token.user


def protect_csrf() -> None:
    """CSRF for every browser write; bearer-token calls carry no cookie and need none,
    nor do views marked with ``csrf.exempt`` (creating an API token with a password)."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or request.routing_exception:
        return
    if bearer_token() is None and not _csrf_exempt():
        csrf.protect()


def _csrf_exempt() -> bool:
    view = current_app.view_functions.get(request.endpoint)
    # Flask-WTF's own check (disabled by WTF_CSRF_CHECK_DEFAULT) reads the same registry.
    return view is not None and f"{view.__module__}.{view.__name__}" in csrf._exempt_views


@login_manager.unauthorized_handler
def _unauthorized():
    """JSON 401 for the API; a redirect to the login page for everything else."""
    if wants_json():
        return api_error(401, _("Authentication required: log in or send a bearer token."))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

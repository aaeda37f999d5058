"""Configuration read from the environment; tests pass a mapping to create_app()."""

import os
from datetime import timedelta


class Config:
    """Defaults for every deployment; each can be overridden by an environment variable."""

    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    LANGUAGES = ("de", "en")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("FIELDCRM_INSECURE_COOKIES") != "1"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    PERMANENT_SESSION_LIFETIME = timedelta(days=30)
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_CHECK_DEFAULT = False  # checked in auth.protect_csrf, which exempts bearer tokens
    WTF_CSRF_HEADERS = ["X-CSRFToken", "X-CSRF-Token"]
    LOGIN_MAX_FAILURES = int(os.environ.get("FIELDCRM_LOGIN_MAX_FAILURES", "5"))
    LOGIN_WINDOW = timedelta(minutes=int(os.environ.get("FIELDCRM_LOGIN_WINDOW_MIN", "15")))
    PAGE_SIZE = 20
    API_MAX_PAGE_SIZE = 200

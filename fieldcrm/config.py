"""Configuration read from the environment; tests pass a mapping to create_app()."""

import os
from datetime import timedelta


class Config:
    """Defaults for every deployment; each can be overridden by an environment variable."""

    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    # Idle connections are pinged before use by fieldcrm._ping_when_idle, not every checkout.
    SQLALCHEMY_ENGINE_OPTIONS = {}
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
    TILE_URL = os.environ.get("FIELDCRM_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    TILE_ATTRIBUTION = os.environ.get("FIELDCRM_TILE_ATTRIBUTION", "&copy; OpenStreetMap contributors")
    # Deleted rows are kept this long for devices to pull, then purged (fieldcrm.sync.retention).
    SYNC_TOMBSTONE_DAYS = int(os.environ.get("FIELDCRM_SYNC_TOMBSTONE_DAYS", "90"))
    NEARBY_LIMIT = 20
    NEARBY_RADII_KM = (1, 5, 10, 25, 50)
    NEARBY_DEFAULT_RADIUS = None  # None: "nearest NEARBY_LIMIT"; or one of NEARBY_RADII_KM
    NEARBY_RADIUS_MAX_ROWS = 100
    MAP_MAX_MARKERS = 2000  # single pins per map request; above it, grid counts (fieldcrm.nearby)
    # Geocoding (fieldcrm.geocoding). GEOCODER names a geopy service ("" turns geocoding
    # off). Nominatim's usage policy asks for an identifying user agent with a contact
    # and at most one request per second; a company's own Nominatim is set by domain.
    GEOCODER = os.environ.get("FIELDCRM_GEOCODER", "nominatim")
    GEOCODER_DOMAIN = os.environ.get("FIELDCRM_GEOCODER_DOMAIN", "nominatim.openstreetmap.org")
    GEOCODER_SCHEME = os.environ.get("FIELDCRM_GEOCODER_SCHEME", "https")
    GEOCODER_USER_AGENT = os.environ.get("FIELDCRM_GEOCODER_USER_AGENT",
                                         "fieldcrm/0.1 (+https://example.com/contact)")
    GEOCODER_TIMEOUT = float(os.environ.get("FIELDCRM_GEOCODER_TIMEOUT", "10"))
    GEOCODER_MIN_DELAY_S = float(os.environ.get("FIELDCRM_GEOCODER_MIN_DELAY_S", "1.0"))
    GEOCODER_COUNTRY_CODES = os.environ.get("FIELDCRM_GEOCODER_COUNTRY_CODES", "de")
    GEOCODER_OPTIONS: dict = {}  # extra keyword arguments for a non-Nominatim geopy geocoder
    GEOCODER_MAX_ATTEMPTS = 8
    GEOCODER_RETRY_BASE_S = 60

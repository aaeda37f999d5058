"""Addresses to coordinates and back, with geopy, in the background worker.

The provider is a geopy service named by ``GEOCODER``: Nominatim by default,
pointed at the public server or at a company's own (``GEOCODER_DOMAIN``,
``GEOCODER_SCHEME``), always with an identifying ``GEOCODER_USER_AGENT`` as
Nominatim's usage policy demands. Every request goes through one geopy
RateLimiter per app and process (``GEOCODER_MIN_DELAY_S``, 1 s for the public
Nominatim), and each answer for an address, found or not, is kept in
``GeocodeCache``, so no address is looked up twice. The client is built
lazily from the config at call time.

Customers are geocoded by the ``geocode`` job, which the customer operations
queue (``note_location_edit``) when an address is new or changed and the user
did not place the pin. The job never overwrites a pin set by hand, nor
coordinates for an address that changed again after it was queued; it retries
on rate limits (after Retry-After) and on outages (with backoff), and after
``GEOCODER_MAX_ATTEMPTS`` marks the customer "failed".
"""

import hashlib
import logging
import threading
import unicodedata
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from geopy.exc import GeocoderQuotaExceeded, GeocoderRateLimited, GeocoderServiceError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim, get_geocoder_for_service

from .extensions import db, insert_unless_present
from .jobs import GiveUp, RetryLater, enqueue, handler
from .models import Customer, GeocodeCache, Job, utcnow

log = logging.getLogger(__name__)

ADDRESS_FIELDS = ("street", "postal_code", "city", "country")
DEFAULT_USER_AGENT = "fieldcrm/0.1 (+https://example.com/contact)"
RATE_LIMIT_WAIT_S = 60
QUOTA_WAIT_S = 3600
MAX_RETRY_WAIT_S = 3600
CITY_KEYS = ("city", "town", "village", "municipality", "hamlet", "suburb")
STREET_KEYS = ("road", "pedestrian", "footway", "path", "square", "place")
_EXTENSION = "fieldcrm.geocoder"
_build_lock = threading.Lock()


@dataclass(frozen=True)
class _Settings:
    provider: str
    domain: str
    scheme: str
    user_agent: str
    timeout: float
    min_delay: float
    options: tuple

    @classmethod
    def from_config(cls, config) -> "_Settings":
        return cls(
            provider=(config.get("GEOCODER") or "").strip().lower(),
            domain=config.get("GEOCODER_DOMAIN", "nominatim.openstreetmap.org"),
            scheme=config.get("GEOCODER_SCHEME", "https"),
            user_agent=config.get("GEOCODER_USER_AGENT") or DEFAULT_USER_AGENT,
            timeout=float(config.get("GEOCODER_TIMEOUT", 10)),
            min_delay=float(config.get("GEOCODER_MIN_DELAY_S", 1.0)),
            options=tuple(sorted((config.get("GEOCODER_OPTIONS") or {}).items())),
        )


@dataclass(frozen=True)
class _Client:
    settings: _Settings
    geocoder: object
    limited: RateLimiter


def _call(method, *args, **kwargs):
    return method(*args, **kwargs)


def geocoding_enabled() -> bool:
    """True unless the config turns geocoding off (``GEOCODER = ""``)."""
    return bool((current_app.config.get("GEOCODER") or "").strip())


def _client() -> _Client:
    """The app's geocoder and rate limiter, rebuilt when the geocoding config changes."""
    settings = _Settings.from_config(current_app.config)
    client = current_app.extensions.get(_EXTENSION)
    if client is not None and client.settings == settings:
        return client
    with _build_lock:
        client = current_app.extensions.get(_EXTENSION)
        if client is None or client.settings != settings:
            client = _Client(settings, _build_geocoder(settings), RateLimiter(
                _call, min_delay_seconds=settings.min_delay,
                # Retries belong to the job queue, and errors must reach the caller:
                # geopy's defaults would sleep in the worker and swallow them as "not found".
                max_retries=0, swallow_exceptions=False,
            ))
            current_app.extensions[_EXTENSION] = client
    return client


def _build_geocoder(settings: _Settings):
    if settings.provider == "nominatim":
        if settings.domain == "nominatim.openstreetmap.org" and "example.com" in settings.user_agent:
            log.warning("GEOCODER_USER_AGENT should name your installation and a contact; "
                        "the public Nominatim may block the default one")
        return Nominatim(domain=settings.domain, scheme=settings.scheme,
                         user_agent=settings.user_agent, timeout=settings.timeout)
    service = get_geocoder_for_service(settings.provider)
    return service(user_agent=settings.user_agent, timeout=settings.timeout,
                   **dict(settings.options))


def _normal(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def address_key(street: str | None, postal_code: str | None, city: str | None,
                country: str | None) -> str:
    """The normalized address: equal for addresses that differ only in case or spacing.

    It is the cache key and the fingerprint a queued job compares with the
    customer's current address.
    """
    return "a:" + "|".join(_normal(part) for part in (country, postal_code, city, street))


def _address_of(customer: Customer) -> tuple[str, ...]:
    """The address fields, with column defaults for those a new, unflushed row lacks."""
    columns = Customer.__table__.c
    return tuple(value if (value := getattr(customer, name)) is not None
                 else getattr(columns[name].default, "arg", None) or "" for name in ADDRESS_FIELDS)


def customer_address_key(customer: Customer) -> str:
    return address_key(*_address_of(customer))


def has_address(customer: Customer) -> bool:
    """True when there is something to look up (a country alone is not an address)."""
    return any((getattr(customer, name) or "").strip() for name in ("street", "postal_code", "city"))


def _cache_id(key: str) -> str:
    limit = GeocodeCache.__table__.c.query.type.length
    return key if len(key) <= limit else "h:" + hashlib.sha256(key.encode()).hexdigest()


def _cached(key: str) -> sa.Row | None:
    # The cache is read and written on connections of its own: the caller's session is
    # left alone, no transaction stays open while the provider answers, and an answer
    # paid for is kept even if the caller rolls back. (On SQLite, therefore, do not
    # look up while the session holds a write transaction: the write would wait.)
    with db.engine.connect() as conn:
        return conn.execute(sa.select(GeocodeCache.__table__)
                            .where(GeocodeCache.query == _cache_id(key))).first()


def _remember(key: str, point: tuple[float, float] | None, provider: str) -> None:
    values = {"query": _cache_id(key), "lat": point[0] if point else None,
              "lon": point[1] if point else None, "found": point is not None,
              "provider": provider[:32], "created_at": utcnow()}
    try:
        with db.engine.begin() as conn:
            conn.execute(insert_unless_present(GeocodeCache.__table__, **values))
    except sa.exc.DBAPIError:
        log.warning("could not cache the geocoding answer for %r", key, exc_info=True)


def _lookup(key: str, ask) -> tuple[float, float] | None:
    """The cached answer for ``key``, else ``ask(client)`` (rate-limited) and cache it."""
    hit = _cached(key)
    if hit is not None:
        return (hit.lat, hit.lon) if hit.found else None
    client = _client()
    location = ask(client)
    point = (location.latitude, location.longitude) if location is not None else None
    _remember(key, point, client.settings.provider)
    return point


def geocode_address(street: str, postal_code: str, city: str,
                    country: str) -> tuple[float, float] | None:
    """(lat, lon) of a postal address, or None when the provider knows no such place.

    Answers come from the cache when the address was looked up before. Raises
    geopy's ``GeocoderServiceError`` (or a subclass: rate limited, timed out,
    unavailable) when the provider fails; failures are not cached.
    """
    if not geocoding_enabled() or not any((street, postal_code, city)):
        return None
    country = (country or "").strip().lower()

    def ask(client: _Client):
        if client.settings.provider == "nominatim":
            query = {name: value.strip() for name, value in
                     (("street", street), ("postalcode", postal_code), ("city", city)) if value}
            return client.limited(client.geocoder.geocode, query, exactly_one=True,
                                  country_codes=country or None)
        place = " ".join(part for part in (postal_code, city) if part)
        text = ", ".join(part for part in (street, place, country.upper()) if part)
        return client.limited(client.geocoder.geocode, text, exactly_one=True)

    return _lookup(address_key(street, postal_code, city, country), ask)


def geocode_place(text: str) -> tuple[float, float] | None:
    """(lat, lon) of a typed place ("Kiel Hafen", "Jungfernstieg 1, Hamburg"), or None.

    Searched within ``GEOCODER_COUNTRY_CODES`` and cached like addresses; raises
    geopy's ``GeocoderServiceError`` when the provider fails.
    """
    text = " ".join((text or "").split())
    if not geocoding_enabled() or not text:
        return None
    countries = [code.strip().lower() for code in
                 (current_app.config.get("GEOCODER_COUNTRY_CODES") or "").split(",") if code.strip()]

    def ask(client: _Client):
        if client.settings.provider == "nominatim":
            return client.limited(client.geocoder.geocode, text, exactly_one=True,
                                  country_codes=countries or None)
        return client.limited(client.geocoder.geocode, text, exactly_one=True)

    return _lookup("q:" + ",".join(countries) + "|" + _normal(text), ask)


def reverse_geocode(lat: float, lon: float) -> dict | None:
    """The postal address at a point: ``{street, postal_code, city, country}``, or None.

    For "create customer here". Not cached (positions hardly repeat); raises
    geopy's ``GeocoderServiceError`` when the provider fails.
    """
    if not geocoding_enabled():
        return None
    client = _client()
    location = client.limited(client.geocoder.reverse, (lat, lon), exactly_one=True)
    address = (location.raw or {}).get("address") if location is not None else None
    if not address:
        return None
    road = next((address[key] for key in STREET_KEYS if address.get(key)), "")
    street = " ".join(part for part in (road, address.get("house_number", "")) if part)
    found = {
        "street": street,
        "postal_code": address.get("postcode", ""),
        "city": next((address[key] for key in CITY_KEYS if address.get(key)), ""),
        "country": (address.get("country_code") or "").upper(),
    }
    return found if any(found.values()) else None


def request_geocode(customer: Customer) -> Job:
    """Mark the customer "pending" and queue its geocoding in the caller's transaction."""
    if customer.id is None:
        customer.id = uuid.uuid4()
    customer.geocode_status = "pending"
    return enqueue("geocode", {"customer_id": str(customer.id),
                               "address": customer_address_key(customer)})


def note_location_edit(customer: Customer, *, address_changed: bool,
                       coordinates_given: bool) -> None:
    """Keep ``geocode_status`` true to where the pin came from, after a create or an edit.

    Coordinates given by the user (form, API, dragged pin, device GPS) are
    "manual" and never overwritten by the geocoder. A new or changed address
    without coordinates, or coordinates cleared, queues a lookup ("pending").
    A customer left without an address keeps any pin it has, as set by hand.
    """
    if coordinates_given and customer.lat is not None:
        customer.geocode_status = "manual"
    elif not (address_changed or coordinates_given):
        return
    elif has_address(customer) and geocoding_enabled():
        request_geocode(customer)
    else:
        customer.geocode_status = "none" if customer.lat is None else "manual"


def _customer_to_geocode(payload: dict, *, lock: bool = False) -> Customer | None:
    """The job's customer, unless it is gone, pinned by hand, or its address changed since."""
    try:
        customer_id = uuid.UUID(str(payload["customer_id"]))
    except (KeyError, ValueError):
        return None
    query = sa.select(Customer).where(Customer.id == customer_id)
    if lock:
        query = query.with_for_update()
    customer = db.session.scalar(query.execution_options(populate_existing=True))
    if customer is None or customer.deleted or customer.geocode_status == "manual":
        return None
    if customer_address_key(customer) != payload.get("address"):
        return None
    return customer


def retry_delay(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failed try: 60 s, doubling, at most an hour."""
    base = float(current_app.config.get("GEOCODER_RETRY_BASE_S", 60))
    return min(base * 2 ** max(attempt - 1, 0), MAX_RETRY_WAIT_S)


@handler("geocode")
def geocode_customer(job: Job) -> None:
    """Job: look up one customer's address and store the pin, as the system user."""
    customer = _customer_to_geocode(job.payload)
    if customer is None:
        return
    address = _address_of(customer)
    db.session.rollback()  # no transaction stays open while the provider answers
    try:
        point = geocode_address(*address)
    except GeocoderRateLimited as exc:
        raise RetryLater(exc.retry_after or RATE_LIMIT_WAIT_S, f"rate limited: {exc}",
                         counts=False) from exc
    except GeocoderQuotaExceeded as exc:
        raise RetryLater(QUOTA_WAIT_S, f"quota exceeded: {exc}", counts=False) from exc
    except GeocoderServiceError as exc:
        if job.attempts < int(current_app.config.get("GEOCODER_MAX_ATTEMPTS", 8)):
            raise RetryLater(retry_delay(job.attempts), f"{type(exc).__name__}: {exc}") from exc
        _store(job, None)
        raise GiveUp(f"gave up after {job.attempts} attempts: {type(exc).__name__}: {exc}") from exc
    _store(job, point)


def _store(job: Job, point: tuple[float, float] | None) -> None:
    """Write the outcome if the customer still wants it; history records no user (system)."""
    customer = _customer_to_geocode(job.payload, lock=True)
    if customer is None:
        return
    if point is not None:
        customer.lat, customer.lon = point
        customer.geocode_status = "ok"
    else:
        customer.geocode_status = "failed"
    customer.geocoded_at = utcnow()
    session_info = db.session.info
    had_actor, actor = "actor_id" in session_info, session_info.get("actor_id")
    session_info["actor_id"] = None
    try:
        db.session.flush()
    finally:
        if had_actor:
            session_info["actor_id"] = actor
        else:
            session_info.pop("actor_id", None)

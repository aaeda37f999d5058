"""A local HTTP server that answers like Nominatim, for geopy's real client.

It serves ``GET /search`` (structured ``street``/``postalcode``/``city`` or
free-form ``q``, ``countrycodes``, ``limit``, ``format=json|jsonv2``) from a
table of known places and ``GET /reverse`` with the nearest known place. Tests
switch on the failure modes of the real service for the next requests: a
slow answer (client timeout), 429 with Retry-After, 500, or nothing found.
Every request is recorded (path, query, User-Agent, arrival time).
"""

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def _normal(text: str | None) -> str:
    return " ".join((text or "").casefold().replace(",", " ").split())


@dataclass
class Place:
    lat: float
    lon: float
    street: str
    house_number: str
    postal_code: str
    city: str
    country_code: str = "de"

    @property
    def street_line(self) -> str:
        return f"{self.street} {self.house_number}".strip()

    def as_search_result(self, place_id: int, jsonv2: bool) -> dict:
        result = {
            "place_id": place_id, "licence": "Data © OpenStreetMap contributors, ODbL 1.0.",
            "osm_type": "node", "osm_id": 1000 + place_id,
            "lat": f"{self.lat:.7f}", "lon": f"{self.lon:.7f}",
            "display_name": f"{self.street_line}, {self.postal_code} {self.city}, Deutschland",
            "address": self.address(),
            "boundingbox": [f"{self.lat - 0.0005:.7f}", f"{self.lat + 0.0005:.7f}",
                            f"{self.lon - 0.0005:.7f}", f"{self.lon + 0.0005:.7f}"],
            "importance": 0.5,
        }
        result.update({"category": "building", "type": "yes", "place_rank": 30} if jsonv2
                      else {"class": "building", "type": "yes"})
        return result

    def address(self) -> dict:
        return {"house_number": self.house_number, "road": self.street, "city": self.city,
                "postcode": self.postal_code, "country": "Deutschland",
                "country_code": self.country_code}

    def matches_structured(self, street: str, postalcode: str, city: str) -> bool:
        return ((not street or _normal(street) == _normal(self.street_line))
                and (not postalcode or postalcode.strip() == self.postal_code)
                and (not city or _normal(city) == _normal(self.city)))

    def matches_text(self, q: str) -> bool:
        names = (f"{self.street_line} {self.postal_code} {self.city}",
                 f"{self.street_line} {self.city}", f"{self.postal_code} {self.city}", self.city)
        return _normal(q) in {_normal(name) for name in names}


@dataclass
class Fault:
    status: int = 200
    delay: float = 0.0
    headers: dict = field(default_factory=dict)
    empty: bool = False


@dataclass
class Request:
    path: str
    query: dict
    user_agent: str
    at: float  # time.monotonic() on arrival


class FakeNominatim:
    """Start with ``start()``; point geopy at ``domain`` with scheme "http"."""

    def __init__(self):
        self.places: list[Place] = []
        self.requests: list[Request] = []
        self.empty = False
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def add(self, lat: float, lon: float, *, street: str, house_number: str = "",
            postal_code: str, city: str, country_code: str = "de") -> Place:
        """Make an address known; returns it."""
        place = Place(lat, lon, street, house_number, postal_code, city, country_code)
        self.places.append(place)
        return place

    def fail_next(self, status: int = 500, *, retry_after: str | int | None = None,
                  times: int = 1) -> None:
        """Answer the next ``times`` requests with an HTTP error (429 with Retry-After...)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self._queue(Fault(status=status, headers=headers), times)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """Answer the next ``times`` requests only after ``seconds`` (a client timeout)."""
        self._queue(Fault(delay=seconds), times)

    def find_nothing_next(self, *, times: int = 1) -> None:
        """Answer the next ``times`` searches with an empty result."""
        self._queue(Fault(empty=True), times)

    def _queue(self, fault: Fault, times: int) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    def _next_fault(self) -> Fault:
        with self._lock:
            return self._faults.popleft() if self._faults else Fault()

    def searches(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/search"]

    @property
    def domain(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> "FakeNominatim":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802  (http.server's naming)
                fake._handle(self)

            def log_message(self, format, *args):  # noqa: A002
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the client gave up on a slow answer: expected in timeout tests

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="fake-nominatim",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        url = urlsplit(http.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        with self._lock:
            self.requests.append(Request(url.path, query, http.headers.get("User-Agent", ""),
                                         time.monotonic()))
        fault = self._next_fault()
        if fault.delay:
            self._stopping.wait(fault.delay)
        if fault.status != 200:
            self._send(http, fault.status, {"error": {"code": fault.status,
                                                      "message": "fault injected"}}, fault.headers)
        elif url.path == "/search":
            self._send(http, 200, [] if fault.empty or self.empty else self._search(query))
        elif url.path == "/reverse":
            self._send(http, 200, self._reverse(query))
        else:
            self._send(http, 404, {"error": "not found"})

    def _search(self, query: dict) -> list[dict]:
        countries = {c.strip().lower() for c in query.get("countrycodes", "").split(",") if c.strip()}
        if "q" in query:
            found = [p for p in self.places if p.matches_text(query["q"])]
        else:
            found = [p for p in self.places if p.matches_structured(
                query.get("street", ""), query.get("postalcode", ""), query.get("city", ""))]
        found = [p for p in found if not countries or p.country_code in countries]
        limit = int(query.get("limit") or 10)
        jsonv2 = query.get("format") == "jsonv2"
        return [p.as_search_result(i, jsonv2) for i, p in enumerate(found[:limit], start=1)]

    def _reverse(self, query: dict) -> dict:
        lat, lon = float(query["lat"]), float(query["lon"])
        nearest = min(self.places, default=None,
                      key=lambda p: math.hypot(p.lat - lat, (p.lon - lon) * math.cos(math.radians(lat))))
        if nearest is None or math.hypot(nearest.lat - lat, nearest.lon - lon) > 0.01:
            return {"error": "Unable to geocode"}
        result = nearest.as_search_result(1, query.get("format") == "jsonv2")
        result.pop("importance")
        return result

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            http.send_response(status)
            http.send_header("Content-Type", "application/json; charset=utf-8")
            http.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                http.send_header(name, value)
            http.end_headers()
            http.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

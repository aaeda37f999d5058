"""Customer list and detail with 100,000 customers: server time and first-load size (issue 2).

    .venv/bin/python -m bench.list_detail            # make bench
    .venv/bin/python -m bench.list_detail --explain  # also print the query plans

For SQLite (a file in a temporary folder) and PostgreSQL (``BENCH_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench``; skipped
with a note when unreachable) it builds a migrated database with 100,000
customers in five territories, logs in as a rep and as the manager, and times
requests through Flask's test client: the server's whole work for a request
(routing, session, login, queries, templates), without the network. Every
request is compared with a minimal view, registered only here, that renders a
20-row Jinja fragment in the same app, so the numbers can be read against what
this machine does in about a millisecond. Requests of all kinds are taken in
turn, so a slow phase of the machine hits them alike.

It also sums the gzip size (level 6) of the first page load: the login page,
the customer list and every CSS and JS file they pull in.
"""

import argparse
import gzip
import json
import os
import platform
import random
import re
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import sqlalchemy as sa
from flask import Flask, render_template_string

from fieldcrm import create_app
from fieldcrm.auth import hash_password
from fieldcrm.customers.queries import encode_cursor
from fieldcrm.demo import TERRITORIES, contact_values, customer_values, random_uuid
from fieldcrm.extensions import db
from fieldcrm.models import Contact, Customer, History, Territory, User
from fieldcrm.scope import customer_scope

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench"
TARGET_MS = 5.0
TARGET_KB = 60.0
PASSWORD = "bench-password"
RESULTS = Path(__file__).parent / "results"
MAP_ASSET = re.compile(r"leaflet|markercluster|maplibre|/js/map\.js$", re.I)
BASELINE_PATH = "/_bench/fragment"
BASELINE_TEMPLATE = (
    '<ul class="list">{% for row in rows %}<li class="row">'
    '<a href="/customers/{{ row.id }}"><span class="row-title">{{ row.name }}</span>'
    '<span class="row-sub">{{ row.postal_code }} {{ row.city }}</span>'
    '<span class="badge status-{{ row.status }}">{{ row.status }}</span></a></li>'
    "{% endfor %}</ul>"
)


@dataclass
class Scenario:
    """One kind of request: who asks, a label, and the paths taken in turn."""

    role: str
    label: str
    paths: list[str]
    count: int | None = None
    timings: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    queries: int = 0
    statements: list[tuple[str, object]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.timings)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.timings, n=20)[-1]


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
    }


def app_config(url: str) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "bench",
        "DEBUG": False,
        "TESTING": False,
        "TEMPLATES_AUTO_RELOAD": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
    }


def recreate_postgres(url: str) -> str | None:
    """Drop and create the benchmark database; an error note if the server cannot be reached."""
    target = sa.engine.make_url(url)
    if "bench" not in (target.database or ""):
        raise SystemExit(f"refusing to drop {target.database!r}: the benchmark database name "
                         "must contain 'bench'")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    except sa.exc.OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0]
    finally:
        admin.dispose()
    return None


def drop_postgres(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str) -> None:
    """The newest schema, by the real Alembic migrations."""
    from flask_migrate import upgrade

    app = create_app(app_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@dataclass
class Seeded:
    rep_email: str
    manager_email: str
    rep_city: str
    manager_city: str
    rep_detail_ids: list
    manager_detail_ids: list


def seed(app: Flask, count: int, rng: random.Random) -> Seeded:
    """``count`` customers spread evenly over five territories and reps, with versions.

    Customers go in by Core ``executemany`` in chunks; the detail customers get
    contacts and a history. The version counter ends above every version used.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    session = db.session
    session.info["skip_history"] = True
    password_hash = hash_password(PASSWORD)
    manager = User(email="manager@bench.example", name="Bench Manager", role="manager",
                   password_hash=password_hash)
    reps, territories = [], []
    for number, area in enumerate(TERRITORIES, 1):
        rep = User(email=f"rep{number}@bench.example", name=area.rep_name, role="rep",
                   password_hash=password_hash)
        reps.append(rep)
        territories.append(Territory(name=area.name, manager=manager, reps=[rep],
                                     postal_codes=list(area.postal_codes)))
    session.add_all([manager, *reps, *territories])
    session.flush()
    version = session.execute(sa.text("SELECT value FROM sync_counter WHERE id = 1")).scalar_one()

    conn = session.connection()
    details: dict[int, list[dict]] = {0: [], 1: []}
    chunk: list[dict] = []
    for index in range(count):
        slot = index % len(TERRITORIES)
        area = TERRITORIES[slot]
        city = rng.choices(area.cities, [c.weight for c in area.cities])[0]
        version += 1
        row = customer_values(rng, area, city, now) | {
            "id": random_uuid(rng), "version": version, "seq": version, "deleted": False,
            "updated_at": now, "owner_id": reps[slot].id, "territory_id": territories[slot].id,
        }
        chunk.append(row)
        if slot in details and len(details[slot]) < 50 and (index < 2 or rng.random() < 0.01):
            details[slot].append(row)
        if len(chunk) == 5000:
            bulk_insert(conn, Customer.__table__, chunk)
            chunk = []
    if chunk:
        bulk_insert(conn, Customer.__table__, chunk)

    contacts, history = [], []
    for row in details[0] + details[1]:
        for n in range(3):
            version += 1
            contacts.append(contact_values(rng, row, first=n == 0) | {
                "id": random_uuid(rng), "customer_id": row["id"], "version": version,
                "deleted": False, "created_at": row["created_at"], "updated_at": now,
            })
        at = row["created_at"]
        for kind, name, old, new in (("created", None, None, row["name"]),
                                     ("change", "status", "lead", "prospect"),
                                     ("change", "status", "prospect", "customer"),
                                     ("change", "phone", None, row["phone"]),
                                     ("change", "abc_class", None, "B"),
                                     ("change", "abc_class", "B", "A")):
            version += 1
            at += timedelta(days=rng.randint(1, 90))
            history.append({
                "id": random_uuid(rng), "version": version, "customer_id": row["id"],
                "at": min(at, now), "user_id": row["owner_id"], "kind": kind,
                "entity": "customer", "entity_id": row["id"], "field": name, "old": old,
                "new": new, "ref_id": None,
            })
    conn.execute(sa.insert(Contact.__table__), contacts)
    conn.execute(sa.insert(History.__table__), history)
    conn.execute(sa.text("UPDATE sync_counter SET value = :v WHERE id = 1"), {"v": version})
    session.commit()
    session.info.pop("skip_history", None)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            auto.execute(sa.text("VACUUM ANALYZE"))
    return Seeded(
        rep_email=reps[0].email, manager_email=manager.email,
        rep_city=TERRITORIES[0].cities[0].name, manager_city=TERRITORIES[4].cities[0].name,
        rep_detail_ids=[str(r["id"]) for r in details[0]],
        manager_detail_ids=[str(r["id"]) for r in details[0][:25] + details[1][:25]],
    )


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert ``rows`` fast: COPY on PostgreSQL, ``executemany`` elsewhere.

    Columns a row leaves out get their Python-side default, as an ORM insert would.
    """
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), rows)
        return
    columns = list(table.columns)
    names = ", ".join(f'"{c.name}"' for c in columns)
    with conn.connection.dbapi_connection.cursor() as cursor, \
            cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_copy_value(c, row[c.key] if c.key in row else _default(c))
                            for c in columns])


def _default(column: sa.Column):
    if column.default is None:
        return None
    return column.default.arg if column.default.is_scalar else column.default.arg(None)


def _copy_value(column: sa.Column, value):
    return json.dumps(value) if isinstance(column.type, sa.JSON) and value is not None else value


def deep_cursor(email: str, position: int) -> str:
    """The list cursor that starts the page after the ``position``-th customer in the user's scope."""
    user = db.session.scalar(sa.select(User).where(User.email == email))
    row = db.session.execute(
        sa.select(Customer.name, Customer.id).where(~Customer.deleted, customer_scope(user))
        .order_by(Customer.name, Customer.id).offset(position).limit(1)
    ).one()
    return encode_cursor(row.name, row.id)


def login(client, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD,
                                           "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"login as {email} failed: HTTP {response.status_code}")


def add_baseline(app: Flask, rng: random.Random) -> None:
    """The minimal view: 20 rows through ``render_template_string``, no database, no login."""
    rows = [{"id": random_uuid(rng), "name": f"Bäckerei Hansen {n} GmbH", "postal_code": "20095",
             "city": "Hamburg", "status": "customer"} for n in range(20)]

    def fragment():
        return render_template_string(BASELINE_TEMPLATE, rows=rows)

    app.add_url_rule(BASELINE_PATH, "bench_fragment", fragment)


class QueryLog:
    """Counts the SQL statements sent and keeps those of the latest request."""

    def __init__(self, engine: sa.Engine):
        self.count = 0
        self.latest: list[tuple[str, object]] = []
        self.engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        self.latest.append((statement, parameters))


def run_scenarios(clients: dict, scenarios: list[Scenario], log: QueryLog, requests: int,
                  warmup: int, budget: float) -> None:
    """Time every scenario ``requests`` times after ``warmup``, one request of each in turn.

    A slow scenario stops early: its warm-up after one second, its timing once it
    has 20 samples and ``budget`` seconds (or 5 samples and twice the budget),
    so a pathological plan cannot stretch the run to many minutes.
    """
    spent = {id(s): 0.0 for s in scenarios}
    for turn in range(warmup + requests):
        timed = turn >= warmup
        if timed and turn == warmup:
            spent = dict.fromkeys(spent, 0.0)
        for scenario in scenarios:
            if not _wanted(scenario, turn, timed, spent[id(scenario)], budget):
                continue
            path = scenario.paths[turn % len(scenario.paths)]
            client = clients[scenario.role]
            log.latest = []
            before = log.count
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            response.get_data()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            if response.status_code != 200:
                raise SystemExit(f"{scenario.role} GET {path}: HTTP {response.status_code}")
            spent[id(scenario)] += elapsed
            if timed:
                scenario.timings.append(elapsed * 1000)
                scenario.cpu.append(cpu * 1000)
                scenario.queries = log.count - before
                scenario.statements = list(log.latest)


def _wanted(scenario: Scenario, turn: int, timed: bool, spent: float, budget: float) -> bool:
    if not timed:
        return turn < 2 or spent < 1.0
    samples = len(scenario.timings)
    if scenario.count is not None and samples >= scenario.count:
        return False
    return not (samples >= 20 and spent > budget or samples >= 5 and spent > 2 * budget)


def explain(conn: sa.Connection, statement: str, parameters) -> str:
    """The database's plan for one captured statement (PostgreSQL runs it: EXPLAIN ANALYZE)."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "\n".join(f"  {row[3]}" for row in rows)
    rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement,
                                parameters).all()
    return "\n".join(f"  {row[0]}" for row in rows)


def bench_backend(name: str, url: str, args, rng: random.Random) -> list[dict]:
    """Build, fill and measure one database: one result per pass.

    PostgreSQL is measured after ``VACUUM ANALYZE``, as autovacuum leaves it.
    SQLite keeps no statistics unless someone runs ANALYZE, so it is measured
    as the migrations leave it and again after ``ANALYZE``.
    """
    print(f"[{name}] migrating {sa.engine.make_url(url).render_as_string()}", flush=True)
    migrate(url)
    app = create_app(app_config(url))
    add_baseline(app, rng)
    with app.app_context():
        start = time.perf_counter()
        seeded = seed(app, args.customers, rng)
        seconds = time.perf_counter() - start
        print(f"[{name}] {args.customers:,} customers inserted in {seconds:.1f} s", flush=True)
        if db.engine.dialect.name == "sqlite":
            version = sqlite3.sqlite_version
        else:
            version = db.session.execute(sa.text("SHOW server_version")).scalar_one()
        cursors = {"rep": deep_cursor(seeded.rep_email, args.customers // 10),
                   "manager": deep_cursor(seeded.manager_email, args.customers // 2)}
        db.session.remove()

    results = [measure(app, name, seeded, cursors, args)]
    if name == "sqlite":
        with app.app_context():
            db.session.execute(sa.text("PRAGMA analysis_limit=1000"))
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        results.append(measure(app, "sqlite+ANALYZE", seeded, cursors, args))
    with app.app_context():
        db.engine.dispose()
    for result in results:
        result.update(version=version, seed_seconds=round(seconds, 1))
    return results


def measure(app: Flask, name: str, seeded: Seeded, cursors: dict, args) -> dict:
    """Time every kind of request for the rep and the manager against the baseline."""
    clients = {"-": app.test_client(), "rep": app.test_client(), "manager": app.test_client()}
    login(clients["rep"], seeded.rep_email)
    login(clients["manager"], seeded.manager_email)
    scenarios = [Scenario("-", "baseline: 20-row Jinja fragment", [BASELINE_PATH])]
    for role, city, ids in (("rep", seeded.rep_city, seeded.rep_detail_ids),
                            ("manager", seeded.manager_city, seeded.manager_detail_ids)):
        scenarios += [
            Scenario(role, "GET /customers (first page)", ["/customers"]),
            Scenario(role, f"GET /customers?q={city[:3]} (city prefix)", [f"/customers?q={city[:3]}"]),
            Scenario(role, "GET /customers?after=… (deep page)", [f"/customers?after={cursors[role]}"]),
            Scenario(role, "GET /customers/<id> (detail)", [f"/customers/{i}" for i in ids]),
        ]
    # What the detail page loads right after it is shown (visit, note, follow-ups, orders).
    scenarios.append(Scenario("rep", "GET /customers/<id>/working (info)",
                              [f"/customers/{i}/working" for i in seeded.rep_detail_ids]))
    scenarios.append(Scenario("manager", "GET /customers?q=xq (no match, info)",
                              ["/customers?q=xq"], count=20))
    log = QueryLog(_engine(app))
    print(f"[{name}] timing {len(scenarios)} kinds of request × {args.requests} "
          f"(+{args.warmup} warm-up)", flush=True)
    run_scenarios(clients, scenarios, log, args.requests, args.warmup, args.budget)
    log.close()

    plans = []
    if args.explain:
        with app.app_context(), db.engine.connect() as conn:
            for scenario in scenarios[1:]:
                for statement, parameters in scenario.statements:
                    if "FROM customer" in statement or "FROM history" in statement:
                        plans.append((scenario.role, scenario.label, statement,
                                      explain(conn, statement, parameters)))
    baseline = scenarios[0].median
    return {
        "backend": name,
        "rows": [{
            "role": s.role, "request": s.label, "median_ms": round(s.median, 2),
            "p95_ms": round(s.p95, 2), "ratio": round(s.median / baseline, 1),
            "cpu_ms": round(statistics.median(s.cpu), 2), "queries": s.queries,
            "n": len(s.timings),
        } for s in scenarios],
        "plans": plans,
    }


def _engine(app: Flask) -> sa.Engine:
    with app.app_context():
        return db.engine


def first_load_size(url: str, email: str | None) -> dict:
    """Gzip sizes of the first visit: what the page needs, and what the service worker adds.

    The page: the login page, the customer list and each CSS/JS file they pull in
    (``<script src>``, stylesheets, module preloads, and the ES module imports of
    those scripts, static and dynamic), each counted once as a browser cache would.
    The service worker (``/sw.js``, if served) then precaches its list and the
    offline shell in the background; that is reported apart, since the page is
    usable before it starts.
    """
    app = create_app(app_config(url))
    client = app.test_client()
    documents = [("/login", client.get("/login"))]
    if email:
        login(client, email)
        documents.append(("/customers", client.get("/customers")))
    items, seen, queue = [], set(), []
    for path, response in documents:
        body = response.get_data()
        items.append(_item(path, "html", body))
        queue += [urljoin(path, ref) for ref in _assets_in_html(body.decode())]
    while queue:
        path = queue.pop(0)
        if path in seen or urlsplit(path).netloc:
            continue
        seen.add(path)
        kind = "css" if urlsplit(path).path.endswith(".css") else "js"
        body, status = _fetch(client, path)
        items.append(_item(path, kind if status == 200 else f"HTTP {status}", body))
        queue += [urljoin(path, ref) for ref in _assets_in_code(body.decode(errors="replace"), kind)]
    background = _service_worker_install(client, seen, logged_in=bool(email))
    with app.app_context():
        db.engine.dispose()
    return {
        "items": items,
        "total_gzip": sum(i["gzip"] for i in items if not i["map"]),
        "maps_gzip": sum(i["gzip"] for i in items if i["map"]),
        "worker_items": background,
        "worker_gzip": sum(i["gzip"] for i in background),
        "worker_maps_gzip": sum(i["gzip"] for i in background if i["map"]),
    }


def _fetch(client, path: str) -> tuple[bytes, int]:
    response = client.get(path)
    body = response.get_data()
    response.close()
    return (body if response.status_code == 200 else b""), response.status_code


def _item(path: str, kind: str, body: bytes) -> dict:
    return {"path": path, "kind": kind, "bytes": len(body), "gzip": _gzip_size(body) if body else 0,
            "map": bool(MAP_ASSET.search(path))}


def _service_worker_install(client, seen: set[str], *, logged_in: bool) -> list[dict]:
    """What installing the service worker fetches beyond the page: itself, its precache, the shell."""
    body, status = _fetch(client, "/sw.js")
    if status != 200:
        return []
    items = [_item("/sw.js", "js", body)]
    release = re.search(r"/\*__FIELDCRM_RELEASE__\*/\s*(\{.*?\});?\s*$", body.decode(), re.M)
    if not release:
        return items
    manifest = json.loads(release.group(1))
    paths = [entry["url"] for entry in manifest.get("precache", [])]
    if logged_in and manifest.get("shell"):
        paths.append(manifest["shell"])
    for path in paths:
        if path not in seen:
            seen.add(path)
            fetched, status = _fetch(client, path)
            suffix = urlsplit(path).path.rsplit(".", 1)[-1]
            kind = suffix if "/" not in suffix else "html"
            items.append(_item(path, kind if status == 200 else f"HTTP {status}", fetched))
    return items


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def _gzip_size(body: bytes) -> int:
    return len(gzip.compress(body, compresslevel=6, mtime=0))


def _assets_in_html(html: str) -> list[str]:
    refs = re.findall(r"<script\b[^>]*\bsrc=[\"']([^\"']+)[\"']", html, re.I)
    for tag in re.findall(r"<link\b[^>]*>", html, re.I):
        rel = re.search(r"\brel=[\"']([^\"']+)[\"']", tag, re.I)
        href = re.search(r"\bhref=[\"']([^\"']+)[\"']", tag, re.I)
        if rel and href and re.search(r"stylesheet|modulepreload|preload", rel.group(1), re.I):
            if "preload" in rel.group(1) and "modulepreload" not in rel.group(1) \
                    and not re.search(r"\bas=[\"'](script|style)[\"']", tag, re.I):
                continue
            refs.append(href.group(1))
    return refs


def _assets_in_code(text: str, kind: str) -> list[str]:
    """Relative imports a browser follows: ES module imports in JS, @import in CSS."""
    if kind == "css":
        return re.findall(r"@import\s+(?:url\()?[\"']?([^\"')\s;]+)", text)
    specs = re.findall(r"\b(?:import|export)\b[^;\"'()]*?\bfrom\s*[\"']([^\"']+)[\"']", text)
    specs += re.findall(r"\bimport\s*\(?\s*[\"']([^\"']+)[\"']", text)
    return [s for s in specs if s.startswith(("./", "../", "/")) and s.endswith((".js", ".mjs"))]


def report(info: dict, results: list[dict], transfer: dict | None, notes: list[str],
           args) -> str:
    """The results as a plain-text table."""
    lines = [
        "fieldcrm benchmark: customer list and detail (issue 2)",
        f"  date        {info['date']}",
        f"  machine     {info['nproc']} CPUs (nproc), {info['cpu']}, {info['system']}",
        f"  python      {info['python']}",
        f"  load avg    {info['load_before']} before, {info['load_after']} after (1/5/15 min)",
    ]
    shown = set()
    for result in results:
        family = "SQLite" if result["backend"].startswith("sqlite") else "PostgreSQL"
        if family not in shown:
            shown.add(family)
            lines.append(f"  {family:<11} {result['version']} ({args.customers:,} customers "
                         f"inserted in {result['seed_seconds']} s)")
    lines += [f"  note        {note}" for note in notes]
    lines += [
        f"  requests    n timed per row ({args.requests} unless a slow kind stopped early after "
        f"{args.budget:g} s) after up to {args.warmup} warm-up;",
        "              all kinds taken in turn; time = Flask test client round trip, median and p95;",
        "              CPU = this process's CPU time (PostgreSQL's own work not included); "
        "SQL = statements per request",
        "",
        f"{'backend':<16}{'user':<9}{'request':<38}{'median':>9}{'p95':>9}{'× base':>8}"
        f"{'CPU':>9}{'SQL':>5}{'n':>5}  target: median ≤ {TARGET_MS:g} ms",
    ]
    for result in results:
        for row in result["rows"]:
            verdict = "" if row["role"] == "-" or "info" in row["request"] else (
                "ok" if row["median_ms"] <= TARGET_MS else "MISSED")
            lines.append(
                f"{result['backend']:<16}{row['role']:<9}{row['request']:<38}"
                f"{row['median_ms']:>7.2f}ms{row['p95_ms']:>7.2f}ms{row['ratio']:>7.1f}×"
                f"{row['cpu_ms']:>7.2f}ms{row['queries']:>5}{row['n']:>5}  {verdict}"
            )
        lines.append("")
    if transfer:
        lines.append("first page load (login page + customer list, each CSS/JS once), gzip level 6; "
                     f"target ≤ {TARGET_KB:g} KB without maps")
        for item in transfer["items"]:
            mark = "  (map asset, not counted)" if item.get("map") else ""
            lines.append(f"  {item['path']:<52}{item['kind']:<6}{item['bytes'] / 1024:>8.1f} KB raw"
                         f"{item['gzip'] / 1024:>8.1f} KB gzip{mark}")
        total = transfer["total_gzip"] / 1024
        verdict = "ok" if total <= TARGET_KB else "MISSED"
        lines.append(f"  {'total':<58}{'':>15}{total:>8.1f} KB gzip  {verdict}")
        worker = transfer.get("worker_items") or []
        if worker:
            biggest = sorted(worker, key=lambda i: -i["gzip"])
            lines += ["", "then, in the background, the service worker install (its precache of every "
                      "static file, and the offline shell):"]
            for item in biggest[:8]:
                mark = "  (map asset)" if item["map"] else ""
                lines.append(f"  {item['path']:<52}{item['kind']:<6}{item['gzip'] / 1024:>8.1f} KB gzip"
                             f"{mark}")
            if len(biggest) > 8:
                rest = sum(i["gzip"] for i in biggest[8:]) / 1024
                lines.append(f"  {f'… {len(biggest) - 8} more files':<58}{rest:>8.1f} KB gzip")
            lines.append(f"  {'total':<58}{transfer['worker_gzip'] / 1024:>8.1f} KB gzip "
                         f"(maps {transfer['worker_maps_gzip'] / 1024:.1f} KB)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=int(os.environ.get("BENCH_CUSTOMERS", 100_000)))
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", 200)))
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--budget", type=float, default=4.0,
                        help="seconds after which a slow kind of request stops early")
    parser.add_argument("--explain", action="store_true", help="print the plans of the queries")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one backend only")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    info = machine()
    info["load_before"] = _load()
    results, notes, transfer = [], [], None
    with tempfile.TemporaryDirectory(prefix="fieldcrm-bench-") as folder:
        backends = []
        if args.only in (None, "sqlite"):
            backends.append(("sqlite", f"sqlite:///{Path(folder) / 'bench.sqlite'}"))
        postgres_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL)
        if args.only in (None, "postgresql"):
            problem = recreate_postgres(postgres_url)
            if problem:
                notes.append(f"PostgreSQL skipped: {problem}")
                print(f"[postgresql] skipped: {problem}", flush=True)
            else:
                backends.append(("postgresql", postgres_url))
        for name, url in backends:
            results += bench_backend(name, url, args, random.Random(2026))
            if transfer is None:
                transfer = first_load_size(url, "rep1@bench.example")
            if name == "postgresql" and not args.keep:
                drop_postgres(url)
        if args.keep:
            keep = Path(tempfile.gettempdir()) / "fieldcrm-bench.sqlite"
            if backends and backends[0][0] == "sqlite":
                Path(folder, "bench.sqlite").replace(keep)
                notes.append(f"SQLite database kept at {keep}")

    info["load_after"] = _load()
    text = report(info, results, transfer, notes, args)
    print()
    print(text)
    for result in results:
        for role, label, statement, plan in result["plans"]:
            print(f"\n[{result['backend']}] {role} {label}\n{statement}\n{plan}")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"list_detail-{stamp}.json").write_text(json.dumps(
        {"machine": info, "customers": args.customers, "requests": args.requests,
         "results": results, "transfer": transfer, "notes": notes}, indent=2, default=str))
    missed = [r for res in results for r in res["rows"]
              if r["role"] != "-" and "info" not in r["request"] and r["median_ms"] > TARGET_MS]
    if transfer and transfer["total_gzip"] / 1024 > TARGET_KB:
        missed.append("transfer")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())

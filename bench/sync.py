"""Offline sync: a push of 1,000 mutations and a rep's first full briefcase pull.

    .venv/bin/python -m bench.sync            # SQLite and PostgreSQL, full sizes
    .venv/bin/python -m bench.sync --quick    # smaller sizes, a smoke run
    .venv/bin/python -m bench.sync --devices 50   # 50 phones against gunicorn for 60 s

For SQLite (a file in a temporary folder) and PostgreSQL (``BENCH_SYNC_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench_sync``, created
and dropped here; skipped with a note when unreachable) it migrates a fresh
database and seeds four territories, each with a rep, 2,000 customers and ten
history entries per customer (20,000), by Core bulk inserts. Requests go
through Flask's test client, so the times are the server's whole work (routing,
session, login, JSON, SQL, commit) without the network.

(a) **Push**: one batch of 1,000 new rows from one rep's device — customers,
contacts, notes, visits and follow-ups — through ``POST /api/v1/sync/push``
(validation, scope checks, versions and history, as the server applies them; the
SQL statements the push sent are counted).
Baseline: the very same rows (copied back with new ids and versions) written by
a plain SQLAlchemy Core ``insert`` (``executemany``) in one transaction; the
ratio says what the sync machinery costs over the bare insert. Several batches
are pushed; the median is reported.

(b) **First pull**: a new device of the first rep pulls its whole briefcase
(``cursor: null``, pages of the server's size (``PAGE_SIZE``) until ``has_more`` is false): the server time
summed over the pages and the gzip size (level 6) of the response bodies.

For (a) and (b), besides the wall time, it reports this process's CPU time,
which a busy machine distorts less (it holds SQLite's work, not PostgreSQL's:
that runs in the server's processes).

(c) **Devices** (``--devices N``, PostgreSQL unless ``--only sqlite``): the app
runs under gunicorn (``--workers``, default 2) on a fresh database with five
reps of 200 customers each; N phones (threads speaking HTTP with a cookie login
and the CSRF header, spread over the reps) pull their briefcase and then, until
``--seconds`` (60) are up, wait 0.2–1 s, push 1–5 new notes and pull. It reports
p50/p99 of push and pull, every error, and the acknowledged notes missing from
the database afterwards (lost); it exits 1 on an error or a lost note.
"""

import argparse
import contextlib
import contextvars
import gzip
import http.cookiejar
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from bench.imports import machine, server_version
from bench.list_detail import (
    PASSWORD,
    RESULTS,
    app_config,
    bulk_insert,
    drop_postgres,
    login,
    migrate,
    recreate_postgres,
)
from fieldcrm import create_app
from fieldcrm.auth import hash_password
from fieldcrm.demo import TERRITORIES, customer_values, random_uuid
from fieldcrm.extensions import db
from fieldcrm.models import Contact, Customer, Followup, History, Note, Territory, User, Visit

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench_sync"
PUSH = "/api/v1/sync/push"
PULL = "/api/v1/sync/pull"
TARGET_PUSH_S = {"SQLite": 0.5, "PostgreSQL": 1.0}
TARGET_PULL_S = 1.0
TARGET_PULL_MB = 1.5
BATCH_MIX = (("customer", 0.1), ("contact", 0.3), ("note", 0.4), ("visit", 0.1), ("followup", 0.1))
MODELS = {"customer": Customer, "contact": Contact, "note": Note, "visit": Visit,
          "followup": Followup}
HISTORY_FIELDS = (("status", "lead", "prospect"), ("status", "prospect", "customer"),
                  ("phone", None, "040 123456"), ("abc_class", None, "B"), ("abc_class", "B", "A"),
                  ("email", None, "info@example.de"), ("visit_interval_days", None, "30"),
                  ("industry", None, "Bäckerei"), ("opening_hours", None, "Mo-Fr 07:00-18:00"))


class FreshContextClient(FlaskClient):
    """Each request in a fresh context, as in production: the bench holds an app context
    for its own database work, and requests must not share its ``g`` (the logged-in user).
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@dataclass
class Sizes:
    territories: int
    customers: int
    history_per_customer: int
    batch: int
    batches: int


FULL = Sizes(territories=4, customers=2000, history_per_customer=10, batch=1000, batches=3)
QUICK = Sizes(territories=2, customers=200, history_per_customer=10, batch=200, batches=2)


def seed(app: Flask, sizes: Sizes, rng: random.Random) -> list[dict]:
    """Reps with territories, customers and history; the reps' ids and their customer ids."""
    now = datetime.now(UTC).replace(microsecond=0)
    session = db.session
    password_hash = hash_password(PASSWORD)
    manager = User(email="manager@bench.example", name="Bench Manager", role="manager",
                   password_hash=password_hash)
    reps = []
    for number, area in enumerate(TERRITORIES[:sizes.territories], 1):
        rep = User(email=f"rep{number}@bench.example", name=area.rep_name, role="rep",
                   password_hash=password_hash)
        territory = Territory(name=area.name, manager=manager, reps=[rep],
                              postal_codes=list(area.postal_codes))
        session.add_all([rep, territory])
        reps.append((rep, territory, area))
    session.add(manager)
    session.commit()
    version = session.execute(sa.text("SELECT value FROM sync_counter WHERE id = 1")).scalar_one()
    conn = session.connection()
    out = []
    for rep, territory, area in reps:
        customers, history = [], []
        for _ in range(sizes.customers):
            city = rng.choices(area.cities, [c.weight for c in area.cities])[0]
            version += 1
            row = customer_values(rng, area, city, now) | {
                "id": random_uuid(rng), "version": version, "seq": version, "deleted": False,
                "updated_at": now, "owner_id": rep.id, "territory_id": territory.id,
            }
            customers.append(row)
            at = now - timedelta(days=300)
            for n in range(sizes.history_per_customer):
                version += 1
                at += timedelta(days=rng.randint(1, 25), minutes=rng.randint(0, 600))
                field, old, new = (None, None, row["name"]) if n == 0 else \
                    HISTORY_FIELDS[(n - 1) % len(HISTORY_FIELDS)]
                history.append({
                    "id": random_uuid(rng), "version": version, "customer_id": row["id"],
                    "at": min(at, now), "user_id": rep.id, "kind": "created" if n == 0 else "change",
                    "entity": "customer", "entity_id": row["id"], "field": field, "old": old,
                    "new": new, "ref_id": None,
                })
        bulk_insert(conn, Customer.__table__, customers)
        bulk_insert(conn, History.__table__, history)
        out.append({"email": rep.email, "customers": [r["id"] for r in customers]})
    conn.execute(sa.text("UPDATE sync_counter SET value = :v WHERE id = 1"), {"v": version})
    session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            auto.execute(sa.text("VACUUM ANALYZE"))
    return out


def logged_in(app: Flask, email: str):
    """A test client logged in as ``email`` and its CSRF token for JSON calls."""
    client = app.test_client()
    login(client, email)
    page = client.get("/account").get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    return client, token


def batch_of(size: int, customers: list, rng: random.Random, stamp: str) -> list[dict]:
    """``size`` new rows in the mix of BATCH_MIX, numbered 1..size.

    Visits are finished ones (checked in and out) one after the other, as a rep's day
    logged offline: a rep cannot be checked in at two customers at once.
    """
    mutations = []
    day = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)

    def visit_fields(customer: str) -> dict:
        nonlocal day
        day += timedelta(hours=1)
        return {"customer_id": customer, "checked_in_at": day.isoformat(),
                "checked_out_at": (day + timedelta(minutes=40)).isoformat(),
                "outcome": "order_taken", "lat": 53.55, "lon": 9.99}

    for kind, share in BATCH_MIX:
        for _ in range(round(size * share)):
            customer = str(rng.choice(customers))
            fields = {
                "customer": {"name": f"Neukunde {uuid.uuid4().hex[:8]}", "postal_code": "20095",
                             "city": "Hamburg", "phone": "040 1234567"},
                "contact": {"customer_id": customer, "name": "Anna Schmidt", "role": "Einkauf",
                            "phone": "0171 2345678"},
                "note": {"customer_id": customer, "channel": "visit",
                         "body": "Wants the autumn offer; call back about the delivery days."},
                "visit": visit_fields(customer),
                "followup": {"customer_id": customer, "title": "Send the autumn offer",
                             "due_at": "2030-11-27T10:00:00+01:00"},
            }[kind]
            mutations.append({"entity": kind, "op": "upsert", "entity_id": str(uuid.uuid4()),
                              "base_version": None, "changed_at": stamp, "fields": fields})
    rng.shuffle(mutations)
    for number, m in enumerate(mutations[:size], 1):
        m["id"] = number
    return mutations[:size]


def bench_push(app: Flask, rep: dict, sizes: Sizes, rng: random.Random) -> dict:
    """Median server time of a batch push, and of the Core insert of the same rows."""
    client, token = logged_in(app, rep["email"])
    push_s, push_cpu, insert_s, statements = [], [], [], []
    for _ in range(sizes.batches):
        mutations = batch_of(sizes.batch, rep["customers"], rng, datetime.now(UTC).isoformat())
        body = {"client_id": str(uuid.uuid4()), "mutations": mutations}
        with counting_statements(db.engine) as counted:
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.post(PUSH, json=body, headers={"X-CSRFToken": token})
            push_s.append(time.perf_counter() - began)
            push_cpu.append(time.process_time() - began_cpu)
        statements.append(counted[0])
        results = response.get_json()["results"]
        statuses = {r["status"] for r in results}
        if response.status_code != 200 or statuses != {"applied"}:
            refused = [r for r in results if r["status"] != "applied"][:3]
            raise SystemExit(f"push failed: HTTP {response.status_code}, {statuses}, {refused}")
        insert_s.append(core_insert_of(mutations))
    return {"batch": sizes.batch, "push_s": statistics.median(push_s),
            "insert_s": statistics.median(insert_s), "push_all": push_s,
            "push_cpu_s": statistics.median(push_cpu), "push_statements": max(statements)}


@contextlib.contextmanager
def counting_statements(engine: sa.Engine):
    """Count the SQL statements sent meanwhile (an executemany counts once)."""
    counted = [0]

    def count(*args):
        counted[0] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def core_insert_of(mutations: list[dict]) -> float:
    """Copy the rows the push wrote (new ids and versions) and time their Core insert."""
    by_kind: dict[str, list[uuid.UUID]] = {}
    for m in mutations:
        by_kind.setdefault(m["entity"], []).append(uuid.UUID(m["entity_id"]))
    session = db.session
    version = session.execute(sa.text("SELECT value FROM sync_counter WHERE id = 1")).scalar_one()
    copies = {}
    for kind, ids in by_kind.items():
        table = MODELS[kind].__table__
        rows = []
        for start in range(0, len(ids), 500):
            for row in session.execute(sa.select(table).where(table.c.id.in_(ids[start:start + 500]))):
                version += 1
                copy = dict(row._mapping) | {"id": uuid.uuid4(), "version": version}
                if kind == "customer":
                    copy["seq"] = version
                rows.append(copy)
        copies[table] = rows
    session.execute(sa.text("UPDATE sync_counter SET value = :v WHERE id = 1"), {"v": version})
    session.commit()
    began = time.perf_counter()
    with db.engine.begin() as conn:
        for table, rows in copies.items():
            conn.execute(sa.insert(table), rows)
    return time.perf_counter() - began


def bench_pull(app: Flask, rep: dict) -> dict:
    """A new device's full pull: server time over all pages, raw and gzip sizes, counts."""
    client, token = logged_in(app, rep["email"])
    cursor, pages, spent, cpu, raw, packed, counts = None, 0, 0.0, 0.0, 0, 0, {}
    client_id = str(uuid.uuid4())
    while True:
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.post(PULL, json={"cursor": cursor, "client_id": client_id},
                               headers={"X-CSRFToken": token})
        spent += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        if response.status_code != 200:
            raise SystemExit(f"pull failed: HTTP {response.status_code}")
        data = response.get_data()
        raw += len(data)
        packed += len(gzip.compress(data, compresslevel=6))
        body = response.get_json()
        for change in body["changes"]:
            counts[change["entity"]] = counts.get(change["entity"], 0) + 1
        pages += 1
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    return {"pull_s": spent, "pull_cpu_s": cpu, "pages": pages, "raw_mb": raw / 2**20, "gzip_mb": packed / 2**20,
            "counts": counts}


def run(name: str, url: str, sizes: Sizes) -> dict:
    rng = random.Random(7)
    migrate(url)
    app = create_app(app_config(url))
    app.test_client_class = FreshContextClient
    with app.app_context():
        reps = seed(app, sizes, rng)
        pulled = bench_pull(app, reps[0])
        pushed = bench_push(app, reps[1], sizes, rng)
        db.session.remove()
        db.engine.dispose()
    return {"name": name, **pulled, **pushed}


def report(result: dict, sizes: Sizes) -> str:
    kind = result["name"].split()[0]
    ratio = result["push_s"] / result["insert_s"]
    counts = ", ".join(f"{n:,} {entity}" for entity, n in sorted(result["counts"].items()))
    push_target = TARGET_PUSH_S[kind] if sizes is FULL else None
    return "\n".join([
        f"{result['name']}:",
        f"  push of {result['batch']:,} mutations: {result['push_s'] * 1000:,.0f} ms server time "
        f"(median of {len(result['push_all'])}: "
        f"{', '.join(f'{s * 1000:,.0f}' for s in result['push_all'])} ms; "
        f"CPU time of this process {result['push_cpu_s'] * 1000:,.0f} ms; "
        f"{result['push_statements']:,} SQL statements)"
        + (f"  target <= {push_target:g} s: {'met' if result['push_s'] <= push_target else 'MISSED'}"
           if push_target else ""),
        f"  Core insert of the same {result['batch']:,} rows: {result['insert_s'] * 1000:,.1f} ms "
        f"-> push / insert = {ratio:,.1f} x",
        f"  first full pull: {result['pull_s'] * 1000:,.0f} ms server time "
        f"(CPU {result['pull_cpu_s'] * 1000:,.0f} ms) over {result['pages']} pages, "
        f"{result['raw_mb']:.2f} MB JSON, {result['gzip_mb']:.2f} MB gzipped ({counts})"
        + (f"  targets <= {TARGET_PULL_S:g} s, <= {TARGET_PULL_MB:g} MB: "
           f"{'met' if result['pull_s'] <= TARGET_PULL_S else 'time MISSED'}, "
           f"{'met' if result['gzip_mb'] <= TARGET_PULL_MB else 'size MISSED'}"
           if sizes is FULL else ""),
    ])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HttpDevice:
    """A phone against a real server: cookie login, CSRF header, numbered mutations, a cursor."""

    def __init__(self, base: str, email: str, customers: list[str]):
        self.base, self.email, self.customers = base, email, customers
        self.http = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.id, self.next_id, self.cursor, self.token = str(uuid.uuid4()), 1, None, None
        self.notes: list[str] = []
        self.push_ms: list[float] = []
        self.pull_ms: list[float] = []
        self.errors: list[str] = []

    def _open(self, path: str, data: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, data=data,  # noqa: S310 - our own http://127.0.0.1
                                         headers=headers or {})
        with self.http.open(request, timeout=60) as response:
            return response.status, response.read()

    def login(self) -> None:
        _, page = self._open("/login")
        token = page.decode().split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        form = urllib.parse.urlencode({"email": self.email, "password": PASSWORD,
                                       "csrf_token": token}).encode()
        _, page = self._open("/login", form)
        self.token = page.decode().split('name="csrf-token" content="', 1)[1].split('"', 1)[0]

    def call(self, path: str, body: dict, timings: list[float]) -> dict | None:
        began = time.perf_counter()
        try:
            status, raw = self._open(path, json.dumps(body).encode(), {
                "Content-Type": "application/json", "X-CSRFToken": self.token})
        except (OSError, urllib.error.HTTPError) as exc:
            self.errors.append(f"{path}: {exc}")
            return None
        timings.append((time.perf_counter() - began) * 1000)
        return json.loads(raw)

    def pull(self) -> None:
        while True:
            body = self.call(PULL, {"cursor": self.cursor, "client_id": self.id}, self.pull_ms)
            if body is None:
                return
            self.cursor = body["cursor"]
            if not body["has_more"]:
                return

    def push(self, rng: random.Random) -> None:
        mutations = []
        for _ in range(rng.randint(1, 5)):
            note = str(uuid.uuid4())
            mutations.append({"id": self.next_id + len(mutations), "entity": "note", "op": "upsert",
                              "entity_id": note, "base_version": None,
                              "changed_at": datetime.now(UTC).isoformat(),
                              "fields": {"customer_id": rng.choice(self.customers),
                                         "channel": "visit", "body": f"Note {note[:8]}"}})
        body = self.call(PUSH, {"client_id": self.id, "mutations": mutations}, self.push_ms)
        if body is None:
            return
        bad = [r for r in body["results"] if r["status"] not in ("applied", "duplicate")]
        if bad:
            self.errors.append(f"push results: {bad[:2]}")
        self.next_id += len(mutations)
        self.notes += [m["entity_id"] for m in mutations]

    def run(self, until: float, seed: int) -> None:
        rng = random.Random(seed)
        try:
            self.login()
        except (OSError, IndexError) as exc:
            self.errors.append(f"login: {exc}")
            return
        self.pull()
        while time.monotonic() < until:
            time.sleep(rng.uniform(0.2, 1.0))
            self.push(rng)
            self.pull()


def bench_devices(url: str, devices: int, seconds: float, workers: int) -> dict:
    """``devices`` phones against gunicorn (``workers``) for ``seconds``: latencies, errors, lost notes."""
    sizes = Sizes(territories=len(TERRITORIES), customers=200, history_per_customer=10,
                  batch=0, batches=0)
    migrate(url)
    app = create_app(app_config(url))
    with app.app_context():
        reps = seed(app, sizes, random.Random(11))
        db.engine.dispose()
    port = free_port()
    env = os.environ | {"DATABASE_URL": url, "SECRET_KEY": "bench", "FIELDCRM_INSECURE_COOKIES": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"],
        env=env, cwd=Path(__file__).resolve().parent.parent)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        phones = [HttpDevice(base, reps[n % len(reps)]["email"],
                             [str(c) for c in reps[n % len(reps)]["customers"]])
                  for n in range(devices)]
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=phone.run, args=(until, n)) for n, phone in enumerate(phones)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 120)
    finally:
        server.terminate()
        server.wait(30)
    with app.app_context():
        sent = [uuid.UUID(n) for phone in phones for n in phone.notes]
        stored = 0
        for start in range(0, len(sent), 500):
            stored += db.session.scalar(sa.select(sa.func.count()).select_from(Note)
                                        .where(Note.id.in_(sent[start:start + 500])))
        db.session.remove()
        db.engine.dispose()
    push_ms = sorted(ms for phone in phones for ms in phone.push_ms)
    pull_ms = sorted(ms for phone in phones for ms in phone.pull_ms)
    return {"devices": devices, "seconds": seconds, "workers": workers,
            "errors": [e for phone in phones for e in phone.errors],
            "acknowledged": len(sent), "lost": len(sent) - stored,
            "push_ms": push_ms, "pull_ms": pull_ms}


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/login", timeout=5):  # noqa: S310 - http://127.0.0.1
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not answer within 60 s")


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def report_devices(name: str, result: dict) -> str:
    push, pull = result["push_ms"], result["pull_ms"]
    lines = [
        f"{name}: {result['devices']} devices against gunicorn ({result['workers']} workers) "
        f"for {result['seconds']:g} s",
        f"  push: {len(push):,} requests, p50 {percentile(push, .5):,.0f} ms, "
        f"p99 {percentile(push, .99):,.0f} ms",
        f"  pull: {len(pull):,} requests, p50 {percentile(pull, .5):,.0f} ms, "
        f"p99 {percentile(pull, .99):,.0f} ms",
        f"  notes acknowledged {result['acknowledged']:,}, lost {result['lost']:,}, "
        f"errors {len(result['errors'])}",
    ]
    lines += [f"    {error}" for error in result["errors"][:5]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one backend only")
    parser.add_argument("--devices", type=int, metavar="N",
                        help="instead: N devices against gunicorn (PostgreSQL unless --only sqlite)")
    parser.add_argument("--seconds", type=float, default=60, help="how long the devices run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.devices:
        return main_devices(args)

    info = machine()
    print(f"bench.sync  {info['date']}{'  (--quick)' if args.quick else ''}")
    print(f"  machine  {info['nproc']} CPUs (nproc), {info['cpu']}, {info['system']}, "
          f"load average {info['load']}")
    print(f"  software Python {info['python']}, SQLite {info['sqlite']}")
    print(f"  data     {sizes.territories} reps x {sizes.customers:,} customers x "
          f"{sizes.history_per_customer} history entries; push batches of {sizes.batch:,} "
          f"({', '.join(f'{share:.0%} {kind}' for kind, share in BATCH_MIX)})")

    results = []
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
            results.append(run("SQLite", url, sizes))
            print(report(results[-1], sizes))
    if args.only != "sqlite":
        url = os.environ.get("BENCH_SYNC_DATABASE_URL", DEFAULT_POSTGRES_URL)
        problem = recreate_postgres(url)
        if problem:
            print(f"PostgreSQL: skipped ({problem})")
        else:
            try:
                results.append(run(f"PostgreSQL {server_version(url)}", url, sizes))
                print(report(results[-1], sizes))
            finally:
                drop_postgres(url)
    save("sync", {"machine": info, "sizes": vars(sizes), "results": results})
    return 0


def save(name: str, data: dict) -> None:
    """Keep the figures as JSON in bench/results/ (git-ignored), like the other benches."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{name}-{stamp}.json").write_text(json.dumps(data, indent=2, default=str))


def main_devices(args) -> int:
    info = machine()
    print(f"bench.sync --devices {args.devices}  {info['date']}")
    print(f"  machine  {info['nproc']} CPUs (nproc), {info['cpu']}, {info['system']}, "
          f"load average {info['load']} (devices, gunicorn and the database share it)")
    print("  each device: log in, full pull, then until the time is up: wait 0.2-1 s, push 1-5 "
          "new notes, pull")
    if args.only == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
            result = bench_devices(url, args.devices, args.seconds, args.workers)
            print(report_devices("SQLite", result))
    else:
        url = os.environ.get("BENCH_SYNC_DATABASE_URL", DEFAULT_POSTGRES_URL)
        problem = recreate_postgres(url)
        if problem:
            print(f"PostgreSQL: skipped ({problem})")
            return 1
        try:
            result = bench_devices(url, args.devices, args.seconds, args.workers)
            print(report_devices(f"PostgreSQL {server_version(url)}", result))
        finally:
            drop_postgres(url)
    save("sync-devices", {"machine": info, "result": result})
    return 1 if result["errors"] or result["lost"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

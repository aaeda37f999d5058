"""History page, ABC recompute and the due-for-visit list at scale (issue 4).

    .venv/bin/python -m bench.history_abc
    .venv/bin/python -m bench.history_abc --only sqlite --customers 10000 --history 200000 \\
        --lines 100000                                   # a quick look

For SQLite (a file in a temporary folder) and PostgreSQL (``BENCH_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench_history``,
created and dropped by the run; skipped with a note when unreachable) it builds a
migrated database with 100,000 customers in 50 territories of 2,000 (one rep
each), 2,000,000 history events (5,000 of them on one customer) and 1,000,000
order lines in about 330,000 orders over the last 18 months, bulk-loaded with Core
``executemany`` (SQLite) or ``COPY`` (PostgreSQL), then measures:

1. the first page of that customer's history: ``history_page()`` alone, and
   through the real views ``GET /customers/<id>/history`` (the fragment the page
   loads) and ``GET /customers/<id>`` (the whole customer page, for information);
   target ≤ 30 ms median;
2. the ABC recompute of all customers (``recompute_abc``): the first run (every
   customer gets a class) and nightly runs (one day later each), and the whole
   nightly job (ABC + at-risk signals) for information; target ≤ 15 s;
3. the due-for-visit list of the rep with 2,000 customers: ``due_visits()``
   alone and ``GET /due``; target ≤ 30 ms median.

Baselines in the same run: a view that renders a 20-row Jinja fragment
(``bench.list_detail``'s), ``SELECT COUNT(*)`` of the same rows each measured
operation reads (the customer's history, the order lines and the orders, the
rep's customers), and the revenue aggregate alone. The load average is printed
before and after, since the machine may be shared.
"""

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask

from bench.list_detail import (
    BASELINE_PATH,
    PASSWORD,
    QueryLog,
    add_baseline,
    app_config,
    bulk_insert,
    drop_postgres,
    login,
    machine,
    migrate,
    recreate_postgres,
)
from fieldcrm import create_app
from fieldcrm.analytics.abc import recompute_abc
from fieldcrm.analytics.cadence import due_visits
from fieldcrm.analytics.nightly import run_analytics
from fieldcrm.analytics.revenue import NO_REVENUE, revenue_by_customer
from fieldcrm.analytics.risk import risk_signal
from fieldcrm.auth import hash_password
from fieldcrm.customers.queries import history_page
from fieldcrm.extensions import db
from fieldcrm.models import Customer, History, Order, OrderLine, Product, Territory, User
from fieldcrm.routes.insights import DUE_PAGE
from fieldcrm.scope import customer_scope
from fieldcrm.settings import get_setting

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench_history"
RESULTS = Path(__file__).parent / "results"
TERRITORY_SIZE = 2000
HEAVY_EVENTS = 5000
CHUNK = 20_000
TARGETS = {"history": 30.0, "abc": 15_000.0, "due": 30.0}
BERLIN = ZoneInfo("Europe/Berlin")
CITIES = (("Hamburg", "20", 53.55, 9.99), ("Berlin", "10", 52.52, 13.40),
          ("München", "80", 48.14, 11.58), ("Köln", "50", 50.94, 6.96),
          ("Leipzig", "04", 51.34, 12.37), ("Stuttgart", "70", 48.78, 9.18))
STATUSES = (("customer", 70), ("at_risk", 5), ("prospect", 10), ("lead", 10), ("lost", 5))
ORDER_STATUSES = (("confirmed", 80), ("submitted", 10), ("draft", 5), ("cancelled", 5))
EVENTS = (("change", "phone", "040 123456", "040 654321"), ("visit", "checked_out", None, "order_taken"),
          ("note", "created", None, "Sortiment besprochen, nächste Woche nachfragen."),
          ("order", "submitted", None, "1234.50"), ("followup", "created", None, "Angebot schicken"))


@dataclass
class Seeded:
    rep_email: str
    rep_id: uuid.UUID
    heavy_id: uuid.UUID
    counts: dict = field(default_factory=dict)


class Versions:
    """Hands out versions as the flush hook would; the counter is set above them at the end."""

    def __init__(self, start: int):
        self.value = start

    def __call__(self) -> int:
        self.value += 1
        return self.value


def vacuum_analyze() -> None:
    """What autovacuum does after a bulk load or the nightly run, done now, so the timings
    do not share the machine with it (PostgreSQL), and fresh statistics (both)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            auto.execute(sa.text("VACUUM ANALYZE"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def seed(args, rng: random.Random, now: datetime) -> Seeded:
    """Users, territories, products, customers, orders with lines and history, by bulk load."""
    session = db.session
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        for pragma in ("synchronous=OFF", "cache_size=-400000"):
            conn.exec_driver_sql(f"PRAGMA {pragma}")
    password_hash = hash_password(PASSWORD)
    manager = User(email="manager@bench.example", name="Bench Manager", role="manager",
                   password_hash=password_hash)
    territories_count = max(1, args.customers // TERRITORY_SIZE)
    reps, territories = [], []
    for n in range(territories_count):
        rep = User(email=f"rep{n + 1}@bench.example", name=f"Rep {n + 1}", role="rep",
                   password_hash=password_hash)
        reps.append(rep)
        territories.append(Territory(name=f"Gebiet {n + 1}", manager=manager, reps=[rep]))
    products = [Product(sku=f"SKU-{n:04d}", name=f"Artikel {n}", unit="pc",
                        net_price=Decimal(rng.randint(100, 20000)) / 100, vat_rate=Decimal("19.00"))
                for n in range(200)]
    session.add_all([manager, *reps, *territories, *products])
    session.flush()
    version = Versions(session.execute(sa.text("SELECT value FROM sync_counter")).scalar_one())
    conn = session.connection()

    customers, buyers, heavy_id = [], [], None
    for index in range(args.customers):
        slot = min(index // TERRITORY_SIZE, territories_count - 1)
        city, prefix, lat, lon = rng.choice(CITIES)
        status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        v = version()
        created = now - timedelta(days=rng.randint(400, 1500))
        visited = None if rng.random() < 0.1 else now - timedelta(days=rng.uniform(0, 150))
        row = {
            "id": _uuid(rng), "version": v, "seq": v, "deleted": False, "created_at": created,
            "updated_at": created, "name": f"Kunde {index:06d} {city}", "street": "Hauptstraße 1",
            "postal_code": f"{prefix}{rng.randint(0, 999):03d}", "city": city, "country": "DE",
            "lat": lat + rng.uniform(-0.2, 0.2), "lon": lon + rng.uniform(-0.3, 0.3),
            "phone": "040 123456", "status": status, "owner_id": reps[slot].id,
            "territory_id": territories[slot].id, "last_visited_at": visited,
            "visit_interval_days": rng.choice((7, 21, 45)) if rng.random() < 0.05 else None,
            "geocode_status": "ok", "field_meta": {},
        }
        if index == 0:
            heavy_id = row["id"]
        customers.append(row)
        if status in ("customer", "at_risk", "lost"):
            buyers.append((row["id"], reps[slot].id, rng.lognormvariate(0, 0.8)))
        if len(customers) == CHUNK:
            bulk_insert(conn, Customer.__table__, customers)
            customers = []
    if customers:
        bulk_insert(conn, Customer.__table__, customers)

    orders, lines, line_id, order_count = [], [], 0, 0
    ids, owners, weights = zip(*buyers, strict=True)
    cumulative = list(_accumulate(weights))
    while line_id < args.lines:
        pick = rng.choices(range(len(ids)), cum_weights=cumulative)[0]
        at = now - timedelta(days=rng.uniform(0, 540))
        status = rng.choices([s for s, _ in ORDER_STATUSES], [w for _, w in ORDER_STATUSES])[0]
        order_id, net = _uuid(rng), Decimal(0)
        for position in range(rng.randint(1, 5)):
            line_id += 1
            product = rng.choice(products)
            quantity = Decimal(rng.randint(1, 20))
            amount = product.net_price * quantity
            net += amount
            lines.append({"id": line_id, "order_id": order_id, "position": position,
                          "product_id": product.id, "quantity": quantity,
                          "unit_price": product.net_price, "discount_pct": Decimal(0),
                          "vat_rate": Decimal("19.00"), "net": amount,
                          "vat": (amount * Decimal("0.19")).quantize(Decimal("0.01"))})
        orders.append({"id": order_id, "version": version(), "deleted": False, "created_at": at,
                       "updated_at": at, "customer_id": ids[pick], "user_id": owners[pick],
                       "status": status, "discount_pct": Decimal(0), "net_total": net,
                       "vat_total": (net * Decimal("0.19")).quantize(Decimal("0.01")),
                       "gross_total": (net * Decimal("1.19")).quantize(Decimal("0.01")),
                       "submitted_at": None if status == "draft" else at, "visit_id": None})
        order_count += 1
        if len(lines) >= CHUNK:
            bulk_insert(conn, Order.__table__, orders)
            bulk_insert(conn, OrderLine.__table__, lines)
            orders, lines = [], []
    if orders:
        bulk_insert(conn, Order.__table__, orders)
        bulk_insert(conn, OrderLine.__table__, lines)

    all_ids = [c for c, _, _ in buyers]
    rep_of = {c: r for c, r, _ in buyers}
    history = []
    for n in range(args.history):
        customer_id = heavy_id if n < HEAVY_EVENTS else rng.choice(all_ids)
        kind, name, old, new = rng.choice(EVENTS)
        ref = _uuid(rng)
        history.append({"id": _uuid(rng), "version": version(), "customer_id": customer_id,
                        "at": now - timedelta(seconds=rng.randint(60, 3 * 365 * 86400)),
                        "user_id": rep_of.get(customer_id, reps[0].id), "kind": kind,
                        "entity": "customer" if kind == "change" else kind,
                        "entity_id": customer_id if kind == "change" else ref, "field": name,
                        "old": old, "new": new, "ref_id": None if kind == "change" else ref})
        if len(history) == CHUNK:
            bulk_insert(conn, History.__table__, history)
            history = []
    if history:
        bulk_insert(conn, History.__table__, history)
    conn.execute(sa.text("UPDATE sync_counter SET value = :v WHERE id = 1"), {"v": version.value})
    session.commit()
    at_risk = settle_risk(now)
    vacuum_analyze()
    return Seeded(rep_email=reps[0].email, rep_id=reps[0].id, heavy_id=heavy_id,
                  counts={"customers": args.customers, "orders": order_count, "lines": line_id,
                          "history": args.history, "rep_customers": min(TERRITORY_SIZE, args.customers),
                          "at_risk": at_risk})


def settle_risk(now: datetime) -> int:
    """Start from the state the nightly job keeps: customers that show a risk signal today
    are at risk already (set in bulk here; the job's ORM path is for the few a night brings)."""
    revenues = revenue_by_customer(now)
    rows = db.session.execute(sa.select(Customer.id, Customer.created_at)
                              .where(Customer.status == "customer")).all()
    flagged = []
    for customer_id, created_at in rows:
        reason = risk_signal(revenues.get(customer_id, NO_REVENUE), created_at, now,
                             no_order_days=int(get_setting("at_risk_no_order_days")),
                             drop_pct=float(get_setting("at_risk_revenue_drop_pct")))
        if reason:
            flagged.append({"b_id": customer_id, "b_reason": reason})
    table = Customer.__table__
    if flagged:
        db.session.connection().execute(
            sa.update(table).where(table.c.id == sa.bindparam("b_id"))
            .values(status="at_risk", risk_reason=sa.bindparam("b_reason")), flagged)
    db.session.commit()
    return len(flagged)


def _accumulate(weights):
    total = 0.0
    for weight in weights:
        total += weight
        yield total


@dataclass
class Timing:
    part: str
    label: str
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    queries: int | None = None
    target: float | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def row(self) -> dict:
        return {"part": self.part, "label": self.label, "median_ms": round(self.median, 2),
                "min_ms": round(min(self.samples), 2), "max_ms": round(max(self.samples), 2),
                "cpu_ms": round(statistics.median(self.cpu), 2) if self.cpu else None,
                "n": len(self.samples), "queries": self.queries, "target_ms": self.target,
                "note": self.note}


def timed(fn, timing: Timing | None = None) -> float:
    """Wall-clock milliseconds of ``fn()``; its CPU time (this process) goes to ``timing``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    if timing is not None:
        timing.cpu.append((time.process_time() - start_cpu) * 1000)
    return (time.perf_counter() - start) * 1000


def interleave(timings: list[tuple[Timing, object]], rounds: int, warmup: int,
               log: QueryLog) -> None:
    """Run every measured call once per round, in turn, so a slow phase of the machine hits all."""
    for turn in range(warmup + rounds):
        for timing, call in timings:
            before = log.count
            elapsed = timed(call, timing if turn >= warmup else None)
            if turn >= warmup:
                timing.samples.append(elapsed)
                timing.queries = log.count - before


def get(client, path: str):
    def call():
        response = client.get(path)
        response.get_data()
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: HTTP {response.status_code}")
    return call


def in_context(app: Flask, fn):
    def call():
        with app.app_context():
            fn()
            db.session.remove()
    return call


def count(app: Flask, statement):
    return in_context(app, lambda: db.session.execute(statement).scalar_one())


def bench_backend(name: str, url: str, args, rng: random.Random) -> dict:
    print(f"[{name}] migrating", flush=True)
    migrate(url)
    app = create_app(app_config(url))
    add_baseline(app, rng)
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        start = time.perf_counter()
        seeded = seed(args, rng, now)
        seed_seconds = time.perf_counter() - start
        if db.engine.dialect.name == "sqlite":
            version = sqlite3.sqlite_version
        else:
            version = db.session.execute(sa.text("SHOW server_version")).scalar_one()
        db.session.remove()
    print(f"[{name}] seeded in {seed_seconds:.0f} s: {seeded.counts}", flush=True)
    log = QueryLog(_engine(app))
    timings: list[Timing] = []

    # ABC first: the due list depends on the classes it sets.
    abc = abc_runs(app, now, args, log)
    timings += abc
    # The pages are used in the day: the nightly run's 100,000 updates have been vacuumed.
    with app.app_context():
        vacuum_analyze()
        db.session.remove()

    client = app.test_client()
    login(client, seeded.rep_email)
    with app.app_context():
        rep = db.session.get(User, seeded.rep_id)
        heavy = db.session.get(Customer, seeded.heavy_id)
        db.session.expunge_all()
    base = Timing("-", "baseline: 20-row Jinja fragment (view)")
    history_count = Timing("history", f"baseline: SELECT COUNT(*) of its {HEAVY_EVENTS:,} events")
    history_fn = Timing("history", "history_page() first page", target=TARGETS["history"])
    history_view = Timing("history", "GET /customers/<id>/history", target=TARGETS["history"])
    detail_view = Timing("history", "GET /customers/<id> (whole page, info)")
    due_count = Timing("due", f"baseline: SELECT COUNT(*) of the rep's {seeded.counts['rep_customers']:,} customers")
    due_fn = Timing("due", "due_visits() for the rep", target=TARGETS["due"])
    due_view = Timing("due", f"GET /due (first page of {DUE_PAGE})", target=TARGETS["due"])

    def history_call():
        with app.app_context():
            customer = db.session.get(Customer, seeded.heavy_id)
            history_page(customer)
            db.session.remove()

    def due_call():
        with app.app_context():
            user = db.session.get(User, seeded.rep_id)
            due_visits(user, datetime.now(UTC), BERLIN)
            db.session.remove()

    with app.app_context():
        due_total = len(due_visits(db.session.get(User, seeded.rep_id), datetime.now(UTC), BERLIN))
        db.session.remove()
    due_view.note = f"{due_total:,} due"
    scope_count = sa.select(sa.func.count()).select_from(Customer).where(
        ~Customer.deleted, customer_scope(rep))
    calls = [
        (base, get(client, BASELINE_PATH)),
        (history_count, count(app, sa.select(sa.func.count()).select_from(History)
                              .where(History.customer_id == heavy.id))),
        (history_fn, history_call),
        (history_view, get(client, f"/customers/{heavy.id}/history")),
        (detail_view, get(client, f"/customers/{heavy.id}")),
        (due_count, count(app, scope_count)),
        (due_fn, due_call),
        (due_view, get(client, "/due")),
    ]
    print(f"[{name}] timing {len(calls)} kinds × {args.requests} (+{args.warmup} warm-up)", flush=True)
    interleave(calls, args.requests, args.warmup, log)
    timings = [base, history_count, history_fn, history_view, detail_view] + timings + \
        [due_count, due_fn, due_view]
    log.close()
    with app.app_context():
        db.engine.dispose()
    return {"backend": name, "version": version, "seed_seconds": round(seed_seconds, 1),
            "counts": seeded.counts, "rows": [t.row() for t in timings]}


def _engine(app: Flask) -> sa.Engine:
    with app.app_context():
        return db.engine


def abc_runs(app: Flask, now: datetime, args, log: QueryLog) -> list[Timing]:
    """The ABC recompute: first runs (from no classes), nightly runs, the whole nightly job."""
    lines = Timing("abc", "baseline: SELECT COUNT(*) of order lines and orders")
    aggregate = Timing("abc", "baseline: the revenue aggregate alone")
    first = Timing("abc", "recompute_abc(), first run (all classes new)", target=TARGETS["abc"])
    nightly = Timing("abc", "recompute_abc(), nightly (one day later)", target=TARGETS["abc"])
    job = Timing("abc", "ABC + at-risk signals (the nightly job), info")
    counted = sa.select(sa.func.count()).select_from(OrderLine)
    counted_orders = sa.select(sa.func.count()).select_from(Order)

    def reset():
        with app.app_context():
            db.session.execute(sa.update(Customer).values(abc_class=None, revenue_12m=0))
            db.session.commit()
            db.session.remove()

    def run(moment, timing, fn=recompute_abc):
        with app.app_context():
            before = log.count
            start, start_cpu = time.perf_counter(), time.process_time()
            result = fn(moment)
            db.session.commit()
            timing.samples.append((time.perf_counter() - start) * 1000)
            timing.cpu.append((time.process_time() - start_cpu) * 1000)
            timing.queries = log.count - before
            timing.note = str(result).replace("\n", "; ")
            db.session.remove()

    for _ in range(args.abc_runs):
        lines.samples.append(timed(lambda: (count(app, counted)(), count(app, counted_orders)()), lines))
        aggregate.samples.append(timed(in_context(app, lambda: revenue_by_customer(now)), aggregate))
        reset()
        run(now, first)
        print(f"[abc] first run {first.samples[-1] / 1000:.1f} s: {first.note}", flush=True)
    for day in range(1, args.abc_runs + 1):
        run(now + timedelta(days=day), nightly)
        print(f"[abc] nightly {nightly.samples[-1] / 1000:.1f} s: {nightly.note}", flush=True)
    run(now + timedelta(days=args.abc_runs + 1), job, run_analytics)
    print(f"[abc] job {job.samples[-1] / 1000:.1f} s: {job.note}", flush=True)
    return [lines, aggregate, first, nightly, job]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(info: dict, results: list[dict], notes: list[str]) -> str:
    lines = [
        "fieldcrm benchmark: history page, ABC recompute, due-for-visit list (issue 4)",
        f"  date        {info['date']}",
        f"  machine     {info['nproc']} CPUs (nproc), {info['cpu']}, {info['system']}",
        f"  python      {info['python']}",
        f"  load avg    {info['load_before']} before, {info['load_after']} after (1/5/15 min)",
    ]
    for result in results:
        c = result["counts"]
        lines.append(f"  {result['backend']:<11} {result['version']}: {c['customers']:,} customers, "
                     f"{c['orders']:,} orders, {c['lines']:,} order lines, {c['history']:,} history "
                     f"events, loaded in {result['seed_seconds']} s")
    lines += [f"  note        {note}" for note in notes]
    lines += ["  time        wall clock of the call (views: Flask test client round trip), median, min, max;",
              "              × base = median / the 20-row Jinja baseline's median in the same run;",
              "              CPU = this process's CPU time (PostgreSQL's own work not in it); "
              "SQL = statements", "",
              f"{'backend':<12}{'measured':<58}{'median':>11}{'min':>11}{'max':>11}{'× base':>8}"
              f"{'CPU':>11}{'SQL':>6}{'n':>5}  target"]
    for result in results:
        base = result["rows"][0]["median_ms"]
        for row in result["rows"]:
            target = row["target_ms"]
            verdict = "" if target is None else (
                f"≤ {_ms(target).strip()}: " + ("ok" if row["median_ms"] <= target else "MISSED"))
            cpu = _ms(row["cpu_ms"]) if row["cpu_ms"] is not None else f"{'':>11}"
            lines.append(f"{result['backend']:<12}{row['label']:<58}{_ms(row['median_ms'])}"
                         f"{_ms(row['min_ms'])}{_ms(row['max_ms'])}{row['median_ms'] / base:>7.1f}×"
                         f"{cpu}{row['queries'] or '':>6}{row['n']:>5}  {verdict}")
            if row["note"]:
                lines.append(f"{'':<14}{row['note']}")
        lines.append("")
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value / 1000:>10.2f}s" if value >= 1000 else f"{value:>9.2f}ms"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=2_000_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--abc-runs", type=int, default=3)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--keep", action="store_true", help="keep both databases")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    rng = random.Random(4)
    info = machine() | {"load_before": load()}
    results, notes = [], []
    if args.only != "postgresql":
        folder = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-history-"))
        path = folder / "bench.sqlite"
        results.append(bench_backend("sqlite", f"sqlite:///{path}", args, rng))
        if args.keep:
            notes.append(f"SQLite database kept at {path}")
        else:
            path.unlink()
            for extra in folder.iterdir():
                extra.unlink()
            folder.rmdir()
    if args.only != "sqlite":
        url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL)
        problem = recreate_postgres(url)
        if problem:
            notes.append(f"PostgreSQL skipped: {problem}")
        else:
            results.append(bench_backend("postgresql", url, args, rng))
            if args.keep:
                notes.append(f"PostgreSQL database kept: {sa.engine.make_url(url).database}")
            else:
                drop_postgres(url)
    info["load_after"] = load()
    text = report(info, results, notes)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"history_abc-{stamp}.json").write_text(
        json.dumps({"info": info, "results": results, "notes": notes}, indent=2, default=str))
    missed = any(row["target_ms"] is not None and row["median_ms"] > row["target_ms"]
                 for result in results for row in result["rows"])
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())

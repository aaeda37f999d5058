"""CSV import of 100,000 customers: rows per second and memory (issue 3).

    .venv/bin/python -m bench.imports                  # 100,000 rows, SQLite and PostgreSQL
    .venv/bin/python -m bench.imports --rows 20000     # a quicker run
    .venv/bin/python -m bench.imports --tracemalloc    # also the Python heap's peak (slower)

For SQLite (a file in a temporary folder) and PostgreSQL (``BENCH_IMPORT_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench_import``, created
and dropped here; skipped with a note when unreachable) it migrates a fresh
database, makes a manager with a territory, and writes a CSV file the way German
Excel does (semicolons, Windows-1252, CRLF) with realistic rows: about 1 % with
an error (a four-digit postal code, a broken email address), about 1 % repeating
an earlier row (a duplicate, skipped), 10 % with coordinates (decimal comma),
the rest to be geocoded. It then times the two steps a user waits for: the
upload check (``create_batch``: encoding, delimiter, header, counting rows) and
the import job itself, run by the real worker loop. Besides the wall time it
reports the worker process's CPU time, which a busy machine distorts less
(PostgreSQL's own work runs in the server's processes and is not in it).

Memory: the process's resident set (``VmRSS``) and its own part (``RssAnon``:
without the database file's pages SQLite reads through its memory map) are
sampled at every committed chunk; the figures are their growth over the start
of the job at 10 %, 50 % and 100 % of the rows: a flat RssAnon means the job
does not hold rows, customers or errors beyond one chunk. With ``--tracemalloc`` the Python heap's peak during
the job is reported too (tracemalloc slows the job down, so rows/s of such a
run are not comparable).
"""

import argparse
import os
import random
import sqlite3
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import sqlalchemy as sa

from bench.list_detail import drop_postgres, recreate_postgres
from bench.list_detail import machine as base_machine
from fieldcrm import create_app, jobs
from fieldcrm.demo import SURNAMES, TERRITORIES
from fieldcrm.extensions import db
from fieldcrm.imports import operations
from fieldcrm.models import Job, Territory, User

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench_import"
TRADES = ("Bäckerei", "Metzgerei", "Apotheke", "Autohaus", "Blumen", "Getränke", "Friseur",
          "Elektro", "Sanitär", "Tischlerei", "Café", "Optik", "Druckerei", "Gärtnerei")
FORMS = ("", "GmbH", "e.K.", "KG", "GmbH & Co. KG", "OHG")
STREETS = ("Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße",
           "Lindenstraße", "Kirchstraße", "Bergstraße", "Waldstraße", "Ringstraße",
           "Mühlenweg", "Am Markt", "Königsallee", "Schillerstraße", "Goethestraße")


def machine() -> dict:
    """What the numbers were measured on (bench.list_detail's) and the SQLite version."""
    return base_machine() | {
        "sqlite": sqlite3.sqlite_version,
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def german_excel_csv(rows: int, seed: int = 3) -> tuple[bytes, dict]:
    """A file as German Excel saves it, and how many rows of each kind it holds."""
    rng = random.Random(seed)
    cities = [city for territory in TERRITORIES for city in territory.cities]
    lines = ["Firma;Straße;PLZ;Ort;Telefon;E-Mail;Branche;Breite;Länge"]
    kinds = {"bad": 0, "duplicate": 0, "with_coordinates": 0}
    for n in range(rows):
        if n > 10 and rng.random() < 0.01:
            lines.append(lines[rng.randrange(1, len(lines))])
            kinds["duplicate"] += 1
            continue
        city = rng.choice(cities)
        trade = rng.choice(TRADES)
        name = f"{trade} {rng.choice(SURNAMES)} {n} {rng.choice(FORMS)}".strip()
        postal_code = f"{rng.randrange(1067, 99999):05d}"
        email = f"info{n}@{trade.lower()}-beispiel.de"
        if rng.random() < 0.01:
            postal_code, email = postal_code[1:], email.replace("@", " at ")
            kinds["bad"] += 1
        lat = lon = ""
        if rng.random() < 0.1:
            lat = f"{city.lat + rng.uniform(-.1, .1):.5f}".replace(".", ",")
            lon = f"{city.lon + rng.uniform(-.1, .1):.5f}".replace(".", ",")
            kinds["with_coordinates"] += 1
        lines.append(";".join((
            name, f"{rng.choice(STREETS)} {rng.randrange(1, 200)}", postal_code, city.name,
            f"0{rng.randrange(30, 999)} {rng.randrange(100000, 9999999)}", email, trade, lat, lon,
        )))
    # Excel, too, writes "?" for what Windows-1252 lacks (Popović).
    return ("\r\n".join(lines) + "\r\n").encode("cp1252", errors="replace"), kinds


def rss_mb() -> tuple[float, float]:
    """(VmRSS, RssAnon) in MB. SQLite reads through a memory map (PRAGMA mmap_size), so the
    database file's pages it touches count in VmRSS as they are read; RssAnon is the
    process's own memory (heap and the like) alone."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", float("nan")), found.get("RssAnon", float("nan"))




def run(url: str, content: bytes, rows: int, *, trace: bool) -> dict:
    """Migrate, upload, import; the timings and memory of one database."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": False})
    with app.app_context(), app.test_request_context():
        upgrade()
        manager = User(email=f"manager-{uuid.uuid4().hex[:6]}@example.com", name="Bench Manager",
                       role="manager", password_hash="-")
        db.session.add(manager)
        db.session.flush()
        territory = Territory(name="Bench", manager_id=manager.id)
        db.session.add(territory)
        db.session.commit()

        began = time.perf_counter()
        batch = operations.create_batch(manager, "kunden.csv", content)
        db.session.commit()
        upload_s = time.perf_counter() - began
        settings = operations.ImportSettings(batch.mapping["fields"], territory.id, "skip")
        operations.start_import(manager, batch, settings, "de")
        db.session.commit()
        batch_id = batch.id
        db.session.expunge_all()

        samples = {}
        real_report = operations.report_progress
        start_rss = rss_mb()

        def watch(job, done, total=None):
            real_report(job, done, total)
            samples[done] = tuple(now - then for now, then in zip(rss_mb(), start_rss, strict=True))

        operations.report_progress = watch
        if trace:
            tracemalloc.start()
        try:
            began, began_cpu = time.perf_counter(), time.process_time()
            ran = jobs.work(once=True, kinds=["import"])
            import_s = time.perf_counter() - began
            import_cpu_s = time.process_time() - began_cpu
            heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
        finally:
            operations.report_progress = real_report
            tracemalloc.stop()
        batch = db.session.get(operations.ImportBatch, batch_id)
        assert ran == 1 and batch.status == "done", (ran, batch.status, batch.message)
        geocode_jobs = db.session.scalar(sa.select(sa.func.count()).select_from(Job)
                                         .where(Job.kind == "geocode"))
        result = {
            "rows": rows, "upload_s": upload_s, "import_s": import_s, "import_cpu_s": import_cpu_s,
            "created": batch.created_rows, "skipped": batch.skipped_rows,
            "errors": batch.error_rows, "geocode_jobs": geocode_jobs,
            "rss_growth_mb": {pct: _sample_at(samples, rows * pct // 100) for pct in (10, 50, 100)},
            "heap_peak_mb": heap_peak,
        }
        db.session.remove()
        db.engine.dispose()
    return result


def _sample_at(samples: dict, done: int) -> float:
    return samples[min((k for k in samples if k >= done), default=max(samples))]


def report(name: str, result: dict) -> str:
    growth = result["rss_growth_mb"]
    lines = [
        f"{name}: {result['rows']:,} rows imported in {result['import_s']:.1f} s = "
        f"{result['rows'] / result['import_s']:,.0f} rows/s "
        f"(upload check {result['upload_s']:.1f} s)",
        f"  CPU time of the worker process {result['import_cpu_s']:.1f} s = "
        f"{result['rows'] / result['import_cpu_s']:,.0f} rows per CPU second",
        f"  created {result['created']:,}, duplicates skipped {result['skipped']:,}, "
        f"rows with errors {result['errors']:,}, geocode jobs queued {result['geocode_jobs']:,}",
        f"  RSS growth during the job: {growth[10][0]:+.1f} MB at 10 %, {growth[50][0]:+.1f} MB at "
        f"50 %, {growth[100][0]:+.1f} MB at 100 %",
        f"  of it the process's own memory (RssAnon; the rest is the database file read through "
        f"SQLite's memory map): {growth[10][1]:+.1f} MB at 10 %, {growth[50][1]:+.1f} MB at 50 %, "
        f"{growth[100][1]:+.1f} MB at 100 %",
    ]
    if result["heap_peak_mb"] is not None:
        lines.append(f"  Python heap peak during the job (tracemalloc): {result['heap_peak_mb']:.1f} MB")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also measure the heap peak")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)

    info = machine()
    print(f"bench.imports  {info['date']}")
    print(f"  machine  {info['nproc']} CPUs (nproc), {info['cpu']}, {info['system']}, "
          f"load average {info['load']}")
    print(f"  software Python {info['python']}, SQLite {info['sqlite']}")
    content, kinds = german_excel_csv(args.rows)
    print(f"  file     {len(content) / 2**20:.1f} MB, Windows-1252, semicolons; "
          f"{kinds['bad']:,} bad rows, {kinds['duplicate']:,} duplicates, "
          f"{kinds['with_coordinates']:,} with coordinates")

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        print(report("SQLite", run(url, content, args.rows, trace=args.tracemalloc)))

    if not args.skip_postgres:
        url = os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_POSTGRES_URL)
        problem = recreate_postgres(url)
        if problem:
            print(f"PostgreSQL: skipped ({problem})")
        else:
            try:
                name = f"PostgreSQL {server_version(url)}"
                print(report(name, run(url, content, args.rows, trace=args.tracemalloc)))
            finally:
                drop_postgres(url)
    return 0


def server_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SHOW server_version")).scalar_one().split()[0]
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())

"""A manager loads customers from a spreadsheet: upload, map, preview, import, report.

The job runs through the real worker loop (``jobs.work(once=True)``) on SQLite
and PostgreSQL, as the background worker would run it.
"""

import itertools
import re
import time
import uuid

import pytest
import sqlalchemy as sa

from fieldcrm import jobs
from fieldcrm.extensions import db as _db
from fieldcrm.imports import csvfile, operations
from fieldcrm.models import Customer, History, ImportBatch, ImportRowError, Job, utcnow

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
GERMAN_ROWS = ("Firma;Straße;PLZ;Ort;Telefon\r\n"
               "Bäckerei Müller;Hauptstraße 1;20095;Hamburg;040 1234567\r\n"
               "Grüße & Söhne KG;Königsallee 5;40212;Düsseldorf;0211 987654\r\n"
               "Weißwurst Öztürk;Maximilianstraße 9;20097;Hamburg;089 555\r\n")


@pytest.fixture
def manager(client, world):
    client.login("manager@example.com")
    return client


def multipart(client, content: bytes, filename: str) -> bytes:
    """The upload form's body, built here: the test client would spool a large one to a file."""
    return (b"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n" + client.csrf.encode()
            + b"\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
            + filename.encode() + b"\"\r\nContent-Type: text/csv\r\n\r\n" + content + b"\r\n--b--\r\n")


def upload(client, content: bytes, filename: str = "kunden.csv"):
    return client.post("/import", data=multipart(client, content, filename),
                       content_type="multipart/form-data; boundary=b")


def batch_of(response) -> ImportBatch:
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    return _get_batch(uuid.UUID(response.headers["Location"].rstrip("/").split("/")[-1]))


def _get_batch(batch_id) -> ImportBatch:
    _db.session.expire_all()
    return _db.session.get(ImportBatch, batch_id)


def start(client, batch: ImportBatch, territory, on_duplicate="skip", fields=None):
    form = {f"column-{i}": name for i, name in enumerate(fields or batch.mapping["fields"])}
    form |= {"territory_id": str(territory.id), "on_duplicate": on_duplicate}
    return client.form(f"/import/{batch.id}", form)


def run_imports() -> int:
    return jobs.work(once=True, kinds=["import"])


def import_file(client, world, content: bytes, **start_args) -> ImportBatch:
    batch = batch_of(upload(client, content))
    response = start(client, batch, world.north, **start_args)
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    assert response.headers["Location"].endswith(f"/import/{batch.id}/progress")
    assert run_imports() == 1
    return _get_batch(batch.id)


def customers_named(db, *names) -> dict[str, Customer]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Customer).where(Customer.name.in_(names), ~Customer.deleted))
    return {c.name: c for c in rows}


@pytest.mark.parametrize(("encoding", "delimiter", "bom", "stored"), [
    ("cp1252", ";", b"", "cp1252"),
    ("utf-8", ";", b"\xef\xbb\xbf", "utf-8-sig"),
    ("utf-8", ",", b"", "utf-8-sig"),
    ("utf-16", "\t", b"", "utf-16"),
], ids=["excel-de-cp1252", "excel-de-utf8-bom", "comma-utf8", "excel-unicode-text"])
def test_german_excel_csv_imports_with_umlauts(manager, world, db, encoding, delimiter, bom, stored):
    content = bom + GERMAN_ROWS.replace(";", delimiter).encode(encoding)
    batch = batch_of(upload(manager, content))
    assert (batch.encoding, batch.delimiter) == (stored, delimiter)
    assert batch.columns == ["Firma", "Straße", "PLZ", "Ort", "Telefon"]
    assert batch.mapping["fields"] == ["name", "street", "postal_code", "city", "phone"]
    assert batch.total_rows == 3

    page = manager.get(f"/import/{batch.id}").get_data(as_text=True)
    assert "Bäckerei Müller" in page and "Königsallee 5" in page
    assert '<option value="street" selected>' in page

    assert start(manager, batch, world.north).status_code == 303
    assert run_imports() == 1
    batch = _get_batch(batch.id)
    assert (batch.status, batch.created_rows, batch.error_rows, batch.done_rows) == ("done", 3, 0, 3)
    found = customers_named(db, "Bäckerei Müller", "Grüße & Söhne KG", "Weißwurst Öztürk")
    assert found["Grüße & Söhne KG"].street == "Königsallee 5"
    assert found["Grüße & Söhne KG"].city == "Düsseldorf"
    assert found["Weißwurst Öztürk"].street == "Maximilianstraße 9"
    assert {c.territory_id for c in found.values()} == {world.north.id}
    assert {c.status for c in found.values()} == {"lead"}
    created = db.session.scalars(sa.select(History).where(
        History.entity_id == found["Bäckerei Müller"].id, History.kind == "created")).one()
    assert created.user_id == world.manager.id


def test_english_headers_and_values_are_understood(manager, world, db):
    content = (b"Company,Street,Zip,City,E-Mail,Web,Status,ABC,Latitude,Longitude,Notes\n"
               b'Hafen Kontor,Am Kai 1,20457,Hamburg,INFO@Hafen.de,hafen.de,Kunde,b,"53,54",9.98,x\n')
    batch = batch_of(upload(manager, content))
    assert batch.mapping["fields"] == ["name", "street", "postal_code", "city", "email", "website",
                                       "status", "abc_class", "lat", "lon", ""]
    assert start(manager, batch, world.north).status_code == 303
    run_imports()
    customer = customers_named(db, "Hafen Kontor")["Hafen Kontor"]
    assert (customer.email, customer.website) == ("info@hafen.de", "https://hafen.de")
    assert (customer.status, customer.abc_class, customer.lat, customer.lon) == ("customer", "B", 53.54, 9.98)


def test_a_large_import_refreshes_the_statistics(manager, world, monkeypatch):
    """Without statistics SQLite plans the list and the nearest search badly (50–600 ms
    at scale): an import that created many customers refreshes them at its end."""
    from fieldcrm.imports import operations

    refreshed = []
    monkeypatch.setattr(operations, "refresh_statistics", lambda: refreshed.append(1))
    monkeypatch.setattr(operations, "STATISTICS_AFTER_ROWS", 2)
    import_file(manager, world, b"Firma;PLZ;Ort\r\nHafen Kontor;20457;Hamburg\r\n")
    assert refreshed == []
    import_file(manager, world, b"Firma;PLZ;Ort\r\nA;20457;Hamburg\r\nB;20457;Hamburg\r\n")
    assert refreshed == [1]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "The file is empty."),
    (b"\xef\xbb\xbf \r\n\r\n", "The file is empty."),
    (PNG, "contains binary data"),
    (b"Firma;PLZ;Ort\r\n", "header row but no data rows"),
    (b"Firma;PLZ;Ort\r\n;;\r\n", "header row but no data rows"),
    (b"\r\nM\xfcller;20095;Hamburg\r\n", "needs a header row"),
    (b"Firma;;Ort\r\nM\xfcller;20095;Hamburg\r\n", "Column 2 has no name"),
    (b"Name;PLZ;name\r\nM\xfcller;20095;Hamburg\r\n", "more than once: name"),
    (b"Firma;Ort\r\nM\x81ller;Hamburg\r\n", "neither UTF-8 nor Windows-1252"),
    (b"Firma;Ort\r\n" + b"x" * 300_000, "could not be read as CSV near line 2"),
    (b'Firma;Ort\r\n"' + b"unterminated;" * 20_000, "could not be read as CSV"),
], ids=["empty", "blank-lines", "png", "header-only", "header-and-blank-row", "no-header",
        "blank-column-name", "duplicate-column-name", "undecodable", "junk-line", "open-quote"])
def test_broken_files_get_a_clear_message_and_nothing_is_stored(manager, db, content, message):
    response = upload(manager, content)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page.replace("&#39;", "'")
    assert 'role="alert"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 0


def test_no_file_chosen(manager):
    response = manager.form("/import", {})
    assert response.status_code == 422
    assert "Choose a CSV file" in response.get_data(as_text=True)


def test_fifty_megabytes_of_junk_are_refused(manager, db):
    junk = b"\x00junk" * (10 * 1024 * 1024)
    response = upload(manager, junk, "junk.csv")
    assert response.status_code == 413
    assert "larger than 20 MB" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 0


def test_a_file_just_over_the_limit_is_refused(app, manager, db):
    app.config["IMPORT_MAX_BYTES"] = 2000
    response = upload(manager, b"Firma;Ort\r\n" + b"M\xfcller;Hamburg\r\n" * 200)
    assert response.status_code == 422
    assert "The file is larger than" in response.get_data(as_text=True)


def test_too_many_rows_are_refused(app, manager):
    app.config["IMPORT_MAX_ROWS"] = 5
    response = upload(manager, b"Firma\r\n" + b"M\xfcller\r\n" * 6)
    assert response.status_code == 422
    assert "more than 5 rows" in response.get_data(as_text=True)


def test_bad_rows_are_reported_good_rows_imported(manager, world, db):
    content = ("Firma;PLZ;Ort;E-Mail;Breite;Länge\r\n"
               "Gut & Co;20095;Hamburg;gut@example.com;;\r\n"
               "Falsche PLZ;2009;Hamburg;;;\r\n"
               ";20095;Hamburg;;;\r\n"
               'Zwei Fehler;"200 95";Hamburg;kein-at;;\r\n'
               "Nur Breite;20095;Hamburg;;53,5;\r\n"
               "Zu breit;20095;Hamburg;;;;überzählig\r\n"
               '"=HYPERLINK(""http://evil.example"",""Klick"")";20095;Hamburg;;;\r\n').encode("cp1252")
    batch = import_file(manager, world, content)
    assert (batch.created_rows, batch.error_rows, batch.done_rows) == (2, 5, 7)
    errors = db.session.scalars(sa.select(ImportRowError).where(ImportRowError.batch_id == batch.id)
                                .order_by(ImportRowError.line)).all()
    assert [e.line for e in errors] == [3, 4, 5, 6, 7]
    assert errors[0].reason == "Postal code: A German postal code has five digits."
    assert errors[1].reason == "Name: This field is required."
    assert "Postal code" in errors[2].reason and "Email: Not a valid email address." in errors[2].reason
    assert "Give latitude and longitude together" in errors[3].reason
    assert "7 cells" in errors[4].reason
    formula = '=HYPERLINK("http://evil.example","Klick")'
    assert formula in customers_named(db, formula)

    progress = manager.get(f"/import/{batch.id}/progress").get_data(as_text=True)
    assert f"/import/{batch.id}/errors.csv" in progress

    report = manager.get(f"/import/{batch.id}/errors.csv", buffered=True)
    assert report.status_code == 200
    assert report.mimetype == "text/csv"
    assert "attachment" in report.headers["Content-Disposition"]
    text = report.get_data().decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[0] == "Line,Reason,Firma,PLZ,Ort,E-Mail,Breite,Länge"
    assert lines[1] == "3,Postal code: A German postal code has five digits.,Falsche PLZ,2009,Hamburg,,,"
    assert "kein-at" in lines[3]


def test_error_report_neutralises_formulas(manager, world, db):
    content = b'Firma;PLZ\r\n"=cmd|\' /C calc\'!A0";1\r\n@SUM(A1);2\r\n'
    batch = import_file(manager, world, content)
    assert batch.error_rows == 2
    text = manager.get(f"/import/{batch.id}/errors.csv", buffered=True).get_data().decode("utf-8-sig")
    assert "\r\n2,Postal code: A German postal code has five digits.,'=cmd|' /C calc'!A0,1\r\n" in text
    assert ",'@SUM(A1),2" in text


def test_german_user_gets_reasons_and_report_in_german_format(manager, world, db):
    world.manager.locale = "de"
    db.session.commit()
    batch = import_file(manager, world, b"Firma;PLZ\r\nM\xfcller;123\r\n")
    assert batch.mapping["locale"] == "de"
    report = manager.get(f"/import/{batch.id}/errors.csv", buffered=True).get_data()
    assert report.startswith(b"\xef\xbb\xbf")
    assert report.decode("utf-8-sig").splitlines()[1].startswith("2;")


def test_duplicates_of_existing_customers_are_skipped(manager, world, db):
    content = "Firma;PLZ;Telefon\r\nBÄCKEREI MÜLLER GMBH;20095;040 999\r\nNeu;20095;\r\n".encode("cp1252")
    batch = import_file(manager, world, content, on_duplicate="skip")
    assert (batch.created_rows, batch.skipped_rows, batch.updated_rows) == (1, 1, 0)
    db.session.refresh(world.customer)
    assert world.customer.phone == ""
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)
                             .where(sa.func.lower(Customer.name).like("%gmbh"))) == 1


def test_duplicates_update_only_the_filled_cells(manager, world, db):
    world.customer.phone = "040 111"
    world.customer.marketing_consent = True
    world.customer.marketing_consent_at = utcnow()
    db.session.commit()
    content = "Firma;PLZ;Telefon;Branche\r\nbäckerei müller gmbh;20095;;Bäckerei\r\n".encode()
    batch = import_file(manager, world, content, on_duplicate="update")
    assert (batch.created_rows, batch.skipped_rows, batch.updated_rows) == (0, 0, 1)
    db.session.expire_all()
    customer = db.session.get(Customer, world.customer.id)
    assert (customer.industry, customer.phone, customer.name) == ("Bäckerei", "040 111", "bäckerei müller gmbh")
    assert customer.marketing_consent is True
    change = db.session.scalars(sa.select(History).where(
        History.entity_id == customer.id, History.field == "industry")).one()
    assert (change.new, change.user_id) == ("Bäckerei", world.manager.id)


def test_duplicates_outside_the_importers_scope_do_not_count(manager, world, db):
    content = b"Firma;PLZ\r\nMetzgerei Huber;80331\r\n"
    batch = import_file(manager, world, content, on_duplicate="update")
    assert (batch.created_rows, batch.updated_rows) == (1, 0)
    db.session.refresh(world.other_customer)
    assert world.other_customer.territory_id == world.south.id


@pytest.mark.parametrize("chunk_rows", [500, 2])
def test_duplicates_within_the_file(manager, world, db, monkeypatch, chunk_rows):
    monkeypatch.setattr(operations, "CHUNK_ROWS", chunk_rows)
    content = (b"Firma;PLZ;Telefon\r\nKontor Nord;22041;040 11111\r\nAndere;22041;\r\n"
               b"KONTOR NORD;22041;040 22222\r\nkontor nord;22041;040 33333\r\n")
    skipped = import_file(manager, world, content, on_duplicate="skip")
    assert (skipped.created_rows, skipped.skipped_rows) == (2, 2)
    assert customers_named(db, "Kontor Nord")["Kontor Nord"].phone == "040 11111"

    content = content.replace(b"Kontor", b"Speicher").replace(b"KONTOR", b"SPEICHER")
    content = content.replace(b"kontor", b"speicher")
    updated = import_file(manager, world, content, on_duplicate="update")
    assert (updated.created_rows, updated.updated_rows, updated.skipped_rows) == (1, 3, 0)
    found = db.session.scalars(sa.select(Customer).where(Customer.name.ilike("speicher nord"))).all()
    assert [(c.name, c.phone) for c in found] == [("speicher nord", "040 33333")]


def test_a_crash_mid_file_resumes_after_the_last_committed_chunk(manager, world, db, monkeypatch):
    monkeypatch.setattr(operations, "CHUNK_ROWS", 3)
    content = "Firma;PLZ\r\n" + "".join(f"Kunde {n};{20000 + n}\r\n" for n in range(10))
    batch = batch_of(upload(manager, content.encode()))
    start(manager, batch, world.north)
    real = operations.RowImporter.import_chunk
    calls = itertools.count(1)

    def crash_on_third(self, rows):
        result = real(self, rows)
        if next(calls) == 3:
            raise RuntimeError("worker killed")
        return result

    monkeypatch.setattr(operations.RowImporter, "import_chunk", crash_on_third)
    run_imports()
    batch = _get_batch(batch.id)
    assert (batch.status, batch.done_rows, batch.created_rows) == ("running", 6, 6)
    job = db.session.scalars(sa.select(Job).where(Job.kind == "import")).one()
    assert (job.status, job.progress_done) == ("queued", 6)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)
                             .where(Customer.name.like("Kunde %"))) == 6

    monkeypatch.setattr(operations.RowImporter, "import_chunk", real)
    job.run_at = utcnow()
    db.session.commit()
    assert run_imports() == 1
    batch = _get_batch(batch.id)
    assert (batch.status, batch.done_rows, batch.created_rows) == ("done", 10, 10)
    names = db.session.scalars(sa.select(Customer.name).where(Customer.name.like("Kunde %"))).all()
    assert sorted(names) == sorted(f"Kunde {n}" for n in range(10))


def test_a_failing_import_is_marked_failed_after_the_last_attempt(manager, world, db, monkeypatch):
    batch = batch_of(upload(manager, b"Firma\r\nA\r\n"))
    start(manager, batch, world.north)
    monkeypatch.setattr(operations.RowImporter, "import_chunk",
                        lambda self, rows: (_ for _ in ()).throw(RuntimeError("boom")))
    job = db.session.scalars(sa.select(Job).where(Job.kind == "import")).one()
    job.attempts = jobs.MAX_ATTEMPTS - 1
    db.session.commit()
    run_imports()
    batch = _get_batch(batch.id)
    assert batch.status == "failed"
    assert "internal error" in batch.message
    page = manager.get(f"/import/{batch.id}/progress").get_data(as_text=True)
    assert "internal error" in page and "hx-trigger" not in page


def test_mapping_must_name_the_customer_and_use_each_field_once(manager, world, db):
    batch = batch_of(upload(manager, b"Firma;PLZ;Ort\r\nA;20095;Hamburg\r\n"))
    response = start(manager, batch, world.north, fields=["", "postal_code", "city"])
    assert response.status_code == 422
    assert "Choose the column that holds the customer" in response.get_data(as_text=True)
    response = start(manager, batch, world.north, fields=["name", "city", "city"])
    assert response.status_code == 422
    assert "one column only: City" in response.get_data(as_text=True)
    response = start(manager, batch, world.south)
    assert response.status_code == 422
    assert "cannot assign customers to this territory" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    assert _get_batch(batch.id).status == "uploaded"


def test_starting_twice_enqueues_one_job(manager, world, db):
    batch = batch_of(upload(manager, b"Firma\r\nA\r\n"))
    assert start(manager, batch, world.north).status_code == 303
    again = start(manager, batch, world.north)
    assert again.status_code == 303
    assert again.headers["Location"].endswith("/progress")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1
    assert manager.get(f"/import/{batch.id}").status_code == 302


def test_preview_shows_rows_as_they_will_be_imported(manager, world, db):
    content = ("Firma;PLZ;Web\r\n" + "".join(f"Firma {n};{20000 + n};firma{n}.de\r\n" for n in range(12))
               + "").encode()
    content = content.replace(b"Firma 3;20003", b"Firma 3;203")
    content = content.replace(b"Firma 5;20005", b"B\xc3\xa4ckerei M\xc3\xbcller GmbH;20095")
    content = content.replace(b"Firma 7;20007", b"Firma 1;20001")
    batch = batch_of(upload(manager, content))
    page = manager.get(f"/import/{batch.id}").get_data(as_text=True)
    body = page[page.index('id="import-preview"'):]
    assert body.count("<tr class=\"preview-") == 10
    assert "https://firma0.de" in body
    assert "A German postal code has five digits." in body
    assert body.count("duplicate: skipped") == 2
    assert "Firma 11" not in body

    query = {f"column-{i}": name for i, name in enumerate(["name", "postal_code", ""])}
    query |= {"territory_id": str(world.north.id), "on_duplicate": "update"}
    partial = manager.get(f"/import/{batch.id}", query_string=query,
                          headers={"HX-Request": "true", "HX-Target": "import-preview"})
    text = partial.get_data(as_text=True)
    assert text.lstrip().startswith('<section class="card" id="import-preview"')
    assert text.count("duplicate: updates the existing customer") == 2
    assert "https://firma0.de" not in text
    assert "HX-Request" in partial.headers["Vary"]


def test_progress_widget_polls_until_done(manager, world, db):
    batch = batch_of(upload(manager, b"Firma;PLZ\r\nA;20095\r\nB;1\r\n"))
    start(manager, batch, world.north)
    page = manager.get(f"/import/{batch.id}/progress").get_data(as_text=True)
    assert "<html" in page
    assert 'hx-trigger="every 1s"' in page and 'hx-swap="outerHTML"' in page
    assert "Waiting for the background worker" in page

    run_imports()
    widget = manager.get(f"/import/{batch.id}/progress",
                         headers={"HX-Request": "true", "HX-Target": "import-progress"})
    text = widget.get_data(as_text=True)
    assert "<html" not in text and 'id="import-progress"' in text
    assert "every 1s" not in text and 'hx-trigger="every 5s"' in text  # geocoding follows
    assert re.search(r'<progress value="2" max="2">', text)
    assert re.search(r'data-count="created">1<', text) and re.search(r'data-count="errors">1<', text)
    assert f"/import/{batch.id}/errors.csv" in text


def test_upload_page_lists_recent_imports(manager, world):
    batch = batch_of(upload(manager, b"Firma\r\nA\r\n", "meine-kunden.csv"))
    page = manager.get("/import").get_data(as_text=True)
    assert 'accept=".csv,text/csv"' in page
    assert "meine-kunden.csv" in page and f"/import/{batch.id}" in page


def test_other_managers_batches_are_not_found(manager, world, make_user, make_client):
    batch = batch_of(upload(manager, b"Firma\r\nA\r\n"))
    other = make_user("manager", email="manager2@example.com")
    client = make_client()
    client.login(other.email)
    for path in (f"/import/{batch.id}", f"/import/{batch.id}/progress", f"/import/{batch.id}/errors.csv",
                 "/import/not-a-uuid", f"/import/{uuid.uuid4()}/progress"):
        assert client.get(path).status_code == 404, path


@pytest.mark.slow
def test_hundred_thousand_rows_with_progress(manager, world, db, monkeypatch):
    # Once is enough for the suite's ten minutes: both databases run the same import code,
    # every smaller import test runs on both, and bench.imports times 100,000 rows on each.
    if db.engine.dialect.name != "sqlite":
        pytest.skip("100,000 rows run on SQLite only; bench.imports measures PostgreSQL")
    rows = 100_000
    lines = ["Firma;Straße;PLZ;Ort;Telefon;E-Mail"]
    lines += [f"Kunde {n} GmbH;Hauptstraße {n % 200 + 1};{10000 + n % 89999:05d};Berlin;030 {n:07d};"
              f"info{n}@example.com" for n in range(rows)]
    lines[501] = "Kunde 500 GmbH;Hauptstraße 1;123;Berlin;;"
    content = ("\r\n".join(lines) + "\r\n").encode("cp1252")
    batch = batch_of(upload(manager, content))
    assert batch.total_rows == rows
    start(manager, batch, world.north)

    seen = []
    real = operations.report_progress

    def watch(job, done, total=None):
        real(job, done, total)
        seen.append(done)

    monkeypatch.setattr(operations, "report_progress", watch)
    began, began_cpu = time.perf_counter(), time.process_time()
    assert run_imports() == 1
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    batch = _get_batch(batch.id)
    assert (batch.status, batch.done_rows, batch.created_rows, batch.error_rows) == ("done", rows, rows - 1, 1)
    assert len(seen) >= rows // operations.CHUNK_ROWS
    assert seen == sorted(seen) and seen[-1] == rows and seen[1] < rows
    job = db.session.scalars(sa.select(Job).where(Job.kind == "import")).one()
    assert (job.status, job.progress_done, job.progress_total) == ("done", rows, rows)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)
                             .where(Customer.territory_id == world.north.id)) == rows
    print(f"\n{rows} rows imported in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s), "
          f"{cpu:.1f} s CPU in the worker ({rows / cpu:,.0f} rows per CPU second)")


def test_new_customers_without_coordinates_are_geocoded_and_the_page_shows_it(manager, world, db):
    content = ("Firma;Straße;PLZ;Ort;Breite;Länge\r\n"
               "Ohne Pin;Hauptstraße 1;20095;Hamburg;;\r\n"
               "Auch ohne;Jungfernstieg 7;20354;Hamburg;;\r\n"
               "Mit Pin;Am Kai 1;20457;Hamburg;53,54;9,98\r\n").encode("cp1252")
    batch = import_file(manager, world, content)
    found = customers_named(db, "Ohne Pin", "Auch ohne", "Mit Pin")
    assert {name: c.geocode_status for name, c in found.items()} == {
        "Ohne Pin": "pending", "Auch ohne": "pending", "Mit Pin": "manual"}
    queued = db.session.scalars(sa.select(Job.payload).where(Job.kind == "geocode")).all()
    assert sorted(p["customer_id"] for p in queued) == sorted(
        str(found[name].id) for name in ("Ohne Pin", "Auch ohne"))

    widget = manager.get(f"/import/{batch.id}/progress",
                         headers={"HX-Request": "true", "HX-Target": "import-progress"})
    text = widget.get_data(as_text=True)
    assert "0 of 2 addresses located" in text
    assert 'hx-trigger="every 5s"' in text

    found["Ohne Pin"].geocode_status = "ok"
    found["Auch ohne"].geocode_status = "failed"
    db.session.commit()
    text = manager.get(f"/import/{batch.id}/progress").get_data(as_text=True)
    assert "2 of 2 addresses located" in text
    assert "hx-trigger" not in text


@pytest.mark.parametrize(("text", "delimiter"), [
    ("Firma;Straße;Ort\r\nMüller, Meier & Co;Hauptstr. 1, Hinterhaus;Köln\r\nB;C, D;E\r\n", ";"),
    ('Name,Street,City\r\n"Müller; Meier",Main St 1,Köln\r\n', ","),
    ("Firma\tOrt\r\nA\tKöln\r\n", "\t"),
    ("Firma|Ort\r\nA|Köln\r\n", "|"),
    ("Firma\r\nA\r\nB\r\n", ","),
])
def test_delimiter_detection(text, delimiter):
    assert csvfile.sniff_delimiter(text) == delimiter


@pytest.mark.parametrize("value", ["=1+1", "+49 40 1", "-2", "@SUM(A1)", "\tx", "\rx", "'=x", "plain", ""])
def test_neutralised_cells_restore_to_the_original(value):
    neutral = csvfile.neutralise(value)
    assert not neutral.startswith(csvfile.FORMULA_TRIGGERS)
    assert csvfile.restore(neutral) == value or value.startswith("'")


def test_preview_of_a_file_head_cut_inside_a_character(manager, world, db):
    content = ("Firma;Ort\r\n" + "".join(f"Kunde {n};Düsseldorf\r\n" for n in range(5))).encode()
    batch = batch_of(upload(manager, content))
    third_umlaut = content.index(b"Kunde 2;D\xc3") + len(b"Kunde 2;D")
    cut = content[: third_umlaut + 1]
    settings = operations.default_settings(world.manager, batch)
    rows = operations.preview(world.manager, batch, cut, settings)
    assert [(row.values["name"], row.values["city"]) for row in rows] == [
        ("Kunde 0", "Düsseldorf"), ("Kunde 1", "Düsseldorf")]


def test_an_admins_import_sees_duplicates_in_every_territory(client, world, db):
    client.login("admin@example.com")
    batch = batch_of(upload(client, b"Firma;PLZ\r\nMETZGEREI HUBER;80331\r\nNeu;80331\r\n"))
    assert start(client, batch, world.south).status_code == 303
    run_imports()
    batch = _get_batch(batch.id)
    assert (batch.created_rows, batch.skipped_rows) == (1, 1)
    assert customers_named(db, "Neu")["Neu"].territory_id == world.south.id

"""Importing customers from a CSV file: upload, column mapping, preview and the background job.

An upload is checked (``csvfile.inspect_csv``) and kept whole in an
ImportBatch. The user maps columns to customer fields, sees a preview, and
starts the import, which enqueues one ``import`` job. The job streams the
stored file and imports it in chunks of CHUNK_ROWS rows. Every row is
validated with the customer form's rules (CUSTOMER_FIELDS and the cross-field
checks of ``create_customer``); a good row becomes a customer, a bad one an
ImportRowError with the reason, and a duplicate (same name and postal code,
ignoring case, among the importer's live customers and the rows before it)
is skipped or updates the existing customer through ``update_customer``.

Each chunk commits together with the batch's counters and position, so a
crash leaves the batch at the end of its last committed chunk; the job, taken
again by a worker when its lease expires, continues from there. No row is
imported twice, and none half.

New customers are added a chunk at a time rather than through
``create_customer``, whose flush and territory query per row make 100,000
rows take minutes: the rows are validated with the same rules, the territory
(the same for every row) once per batch, versions and history come from the
normal flush hook, and geocoding is queued by the same hook
(``geocoding.note_location_edit``) for rows without coordinates. Reasons are stored as text in the language the user
had when starting the import (kept in the mapping), since the worker has no
request to ask.
"""

import csv
import itertools
import json
import os
import unicodedata
import uuid
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from ..customers.operations import CUSTOMER_FIELDS, _check_customer, update_customer
from ..extensions import db, refresh_statistics
from ..formatting import FIELD_LABELS, STATUS_LABELS
from ..geocoding import note_location_edit
from ..jobs import MAX_ATTEMPTS, enqueue, handler, report_progress
from ..models import Customer, ImportBatch, ImportRowError, Job, User, utcnow
from ..scope import customer_scope, visible_territories
from ..validation import ValidationError, clean
from .csvfile import CsvRejected, chunked, data_rows, inspect_csv, restore

IMPORT_FIELDS = ("name", "street", "postal_code", "city", "country", "phone", "email", "website",
                 "industry", "status", "abc_class", "lat", "lon", "visit_interval_days",
                 "opening_hours")
DUPLICATE_ACTIONS = ("skip", "update")
CHUNK_ROWS = 500
# An import that created this many customers refreshes the planner's statistics (SQLite):
# enough to change plans; fewer leave it to SQLite's own refresh when a connection closes.
STATISTICS_AFTER_ROWS = 1_000
FLUSH_ROWS = 50
PREVIEW_ROWS = 10
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 200_000

# Header names (normalised: lower case, umlauts spelt out, only letters and digits) that
# spreadsheets use for each field, in German and English. The field names themselves and
# the form labels in both languages are recognised too, so an export imports back.
HEADER_NAMES = {
    "name": ("firma", "firmenname", "firmierung", "kunde", "kundenname", "name", "name1",
             "unternehmen", "company", "companyname", "customer", "customername"),
    "street": ("strasse", "str", "strassehausnummer", "strasseundhausnummer", "strassenr",
               "adresse", "anschrift", "street", "streetaddress", "address", "addressline1"),
    "postal_code": ("plz", "postleitzahl", "postalcode", "zip", "zipcode", "postcode"),
    "city": ("ort", "stadt", "wohnort", "gemeinde", "city", "town"),
    "country": ("land", "laenderkennzeichen", "country", "countrycode"),
    "phone": ("telefon", "tel", "telefonnummer", "telefonnr", "fon", "phone", "telephone",
              "phonenumber"),
    "email": ("email", "mail", "emailadresse", "emailaddress"),
    "website": ("webseite", "website", "internet", "internetadresse", "homepage", "url", "web"),
    "industry": ("branche", "industry", "sector", "sektor"),
    "status": ("status", "kundenstatus"),
    "abc_class": ("abc", "abcklasse", "abcclass", "klasse", "abcanalyse"),
    "lat": ("breite", "breitengrad", "latitude", "lat"),
    "lon": ("laenge", "laengengrad", "longitude", "lon", "lng"),
    "visit_interval_days": ("besuchsintervall", "besuchsrhythmus", "besuchsintervalltage",
                            "visitinterval", "visitintervaldays"),
    "opening_hours": ("oeffnungszeiten", "openinghours"),
}
STATUS_NAMES = {
    "lead": ("lead",), "prospect": ("prospect", "interessent"),
    "customer": ("customer", "kunde", "bestandskunde"),
    "at_risk": ("atrisk", "gefaehrdet", "abwanderungsgefaehrdet"), "lost": ("lost", "verloren"),
}


def normalise_name(text: str) -> str:
    """A header or value reduced for matching: "Straße" and "strasse", "E-Mail" and "email" agree."""
    text = unicodedata.normalize("NFC", text).casefold()
    for umlaut, spelt in (("ä", "ae"), ("ö", "oe"), ("ü", "ue")):
        text = text.replace(umlaut, spelt)
    return "".join(char for char in text if char.isalnum())


def _labels(labels: dict, fields) -> dict[str, str]:
    """Normalised labels of ``fields`` in English and German, mapped to the field."""
    names = {}
    for locale in ("en", "de"):
        with force_locale(locale):
            names.update({normalise_name(str(labels[name])): name for name in fields})
    return names


def guess_fields(columns: list[str]) -> list[str]:
    """The customer field each column most likely holds ("" for none); each field at most once."""
    names = _labels(FIELD_LABELS, IMPORT_FIELDS)
    for name in IMPORT_FIELDS:
        names.update(dict.fromkeys((normalise_name(alias) for alias in (name, *HEADER_NAMES[name])), name))
    guessed, taken = [], set()
    for column in columns:
        name = names.get(normalise_name(column), "")
        guessed.append("" if name in taken else name)
        taken.add(name)
    return guessed


def max_upload_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def max_rows() -> int:
    return int(current_app.config.get("IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


def too_large_message():
    return _l("The file is larger than %(size)s MB. Split it into smaller files.",
              size=f"{max_upload_bytes() / 1024 / 1024:g}")


def create_batch(user: User, filename: str, content: bytes) -> ImportBatch:
    """Keep an uploaded file for mapping; raises CsvRejected saying what is wrong with it."""
    if len(content) > max_upload_bytes():
        raise CsvRejected(too_large_message())
    info = inspect_csv(content, max_rows=max_rows())
    batch = ImportBatch(
        user_id=user.id, filename=_display_name(filename), content=content,
        encoding=info.encoding, delimiter=info.delimiter, columns=info.columns,
        total_rows=info.rows, mapping={"fields": guess_fields(info.columns)},
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def _display_name(filename: str) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    return name[-255:] or "upload.csv"


@dataclass
class ImportSettings:
    """How a file is imported: a field per column ("" to ignore it), the territory, duplicates."""

    fields: list[str]
    territory_id: uuid.UUID | None
    on_duplicate: str = "skip"


def settings_from_form(batch: ImportBatch, form) -> ImportSettings:
    """The settings in a submitted mapping form; unknown values become "not chosen"."""
    fields = []
    for index in range(len(batch.columns)):
        name = form.get(f"column-{index}", "")
        fields.append(name if name in IMPORT_FIELDS else "")
    try:
        territory_id = uuid.UUID(form.get("territory_id", ""))
    except ValueError:
        territory_id = None
    on_duplicate = form.get("on_duplicate", "skip")
    return ImportSettings(fields, territory_id, on_duplicate if on_duplicate in DUPLICATE_ACTIONS else "")


def default_settings(user: User, batch: ImportBatch) -> ImportSettings:
    """The guessed mapping, the importer's first territory, and skipping duplicates."""
    territories = visible_territories(user)
    return ImportSettings(list(batch.mapping.get("fields") or [""] * len(batch.columns)),
                          territories[0].id if territories else None, batch.on_duplicate or "skip")


def check_settings(user: User, settings: ImportSettings) -> dict:
    """Messages for what is wrong with the settings, by form field; empty when they are fine."""
    errors = {}
    chosen = [name for name in settings.fields if name]
    twice = sorted({name for name in chosen if chosen.count(name) > 1})
    if "name" not in chosen:
        errors["mapping"] = _l("Choose the column that holds the customer's name.")
    elif twice:
        errors["mapping"] = _l("Each field can be chosen for one column only: %(fields)s.",
                               fields=", ".join(str(FIELD_LABELS[name]) for name in twice))
    problem = territory_problem(user, settings.territory_id)
    if problem:
        errors["territory_id"] = problem
    if settings.on_duplicate not in DUPLICATE_ACTIONS:
        errors["on_duplicate"] = _l("Choose what happens to duplicates.")
    return errors


def territory_problem(user: User, territory_id: uuid.UUID | None):
    """Why ``user`` may not put customers into this territory, or None (the form's own rule)."""
    return _check_customer(user, {"territory_id": territory_id}, None).get("territory_id")


def start_import(user: User, batch: ImportBatch, settings: ImportSettings, locale) -> Job:
    """Save the settings and enqueue the import job; raises ValidationError for bad settings."""
    errors = check_settings(user, settings)
    if errors:
        raise ValidationError(errors)
    batch.mapping = {"fields": settings.fields, "locale": str(locale or "en")}
    batch.territory_id = settings.territory_id
    batch.on_duplicate = settings.on_duplicate
    batch.status = "queued"
    job = enqueue("import", {"batch_id": str(batch.id)}, total=batch.total_rows)
    db.session.flush()
    return job


@dataclass
class PreviewRow:
    """A row as it will be imported: the stored values, or the problems and what happens."""

    line: int
    values: dict
    errors: dict
    action: str  # "create", "update", "skip" or "error"


def preview(user: User, batch: ImportBatch, head: bytes, settings: ImportSettings,
            limit: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """The first ``limit`` data rows validated and checked for duplicates, nothing written.

    ``head`` is the start of the file; a row it cuts short (only in files with
    rows of many kilobytes) is shown as far as it goes.
    """
    importer = RowImporter(user, settings, width=len(batch.columns))
    checked = []
    for line, cells in _readable_rows(head, batch, limit):
        try:
            values = importer.validate(importer.row_data(cells), cells)
        except ValidationError as exc:
            checked.append(PreviewRow(line, importer.row_data(cells), exc.errors, "error"))
        else:
            checked.append(PreviewRow(line, values, {}, "create"))
    known = importer.find_existing({duplicate_key(row.values) for row in checked if not row.errors})
    seen = set()
    for row in checked:
        if row.errors:
            continue
        key = duplicate_key(row.values)
        if key in known or key in seen:
            row.action = settings.on_duplicate or "skip"
        seen.add(key)
    return checked


def _readable_rows(head: bytes, batch: ImportBatch, limit: int) -> list[tuple[int, list[str]]]:
    rows = []
    with suppress(UnicodeDecodeError, csv.Error):  # the head ends inside a character or a cell
        for row in itertools.islice(data_rows(head, batch.encoding, batch.delimiter), limit):
            rows.append(row)
    return rows


def duplicate_key(values: dict) -> tuple[str, str]:
    """What makes two customers the same: name and postal code, ignoring case."""
    return values["name"].casefold(), (values.get("postal_code") or "").casefold()


@dataclass
class ChunkResult:
    """What importing one chunk did."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    seqs: list[int] = field(default_factory=list)


class RowImporter:
    """Turns CSV rows into customers of ``user`` with the rules of the customer form."""

    def __init__(self, user: User, settings: ImportSettings, *, width: int,
                 batch_id: uuid.UUID | None = None, locale: str | None = None):
        self.user = user
        self.fields = settings.fields
        self.territory_id = settings.territory_id
        self.on_duplicate = settings.on_duplicate
        self.width = width
        self.batch_id = batch_id
        self.locale = locale
        self.statuses = _labels(STATUS_LABELS, STATUS_LABELS) | {
            normalise_name(alias): key for key, aliases in STATUS_NAMES.items() for alias in aliases
        }

    def row_data(self, cells: list[str]) -> dict:
        """The non-empty mapped cells as form input (an exported file's quoting undone)."""
        data = {}
        for name, cell in zip(self.fields, cells, strict=False):
            value = restore(cell.strip())
            if name and value:
                if name == "status":
                    value = self.statuses.get(normalise_name(value), value)
                elif name == "abc_class":
                    value = value.upper()
                data[name] = value
        return data

    def validate(self, data: dict, cells: list[str]) -> dict:
        """Typed values for a new customer, as create_customer would store them."""
        if any(cell.strip() for cell in cells[self.width:]):
            raise ValidationError({"": _l("This row has %(cells)s cells, the header only %(columns)s.",
                                          cells=len(cells), columns=self.width)})
        values = clean(CUSTOMER_FIELDS, {"status": "lead"} | data, partial=False, form=True,
                       check=self._rules)
        values["territory_id"] = self.territory_id
        return values

    def _rules(self, values: dict) -> dict:
        # The territory is the batch's, the same for every row: territory_problem() checks it
        # once, instead of a query per row.
        errors = _check_customer(self.user, values, None)
        errors.pop("territory_id", None)
        return errors

    def find_existing(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], uuid.UUID]:
        """The oldest live customer in the importer's scope for each duplicate key found."""
        if not keys:
            return {}
        codes = {variant for _, code in keys if code for variant in (code, code.upper())}
        blank = {name for name, code in keys if not code}
        # The scope, wrapped in CASE, is checked on the rows the postal codes select: given
        # hundreds of codes, SQLite would rather walk the scope's index through the whole
        # territory, a read that grows with every chunk imported.
        in_scope = sa.case((customer_scope(self.user), sa.true()), else_=sa.false())
        query = (sa.select(Customer.id, Customer.name, Customer.postal_code)
                 .where(~Customer.deleted, in_scope).order_by(Customer.seq))
        found: dict[tuple[str, str], uuid.UUID] = {}
        conditions = []
        if codes:
            conditions.append(Customer.postal_code.in_(codes))
        if blank:
            # SQLite's lower() folds ASCII only; exact names are matched as well.
            conditions.append(sa.and_(Customer.postal_code == "", sa.or_(
                sa.func.lower(Customer.name).in_(blank), Customer.name.in_(blank))))
        for condition in conditions:
            for customer_id, name, code in db.session.execute(query.where(condition)):
                key = (name.casefold(), (code or "").casefold())
                if key in keys:
                    found.setdefault(key, customer_id)
        return found

    def import_chunk(self, rows: list[tuple[int, list[str]]]) -> ChunkResult:
        """Import the rows (line, cells) in the current transaction; the caller commits."""
        result = ChunkResult()
        valid = []
        for line, cells in rows:
            data = self.row_data(cells)
            try:
                valid.append((line, cells, data, self.validate(data, cells)))
            except ValidationError as exc:
                self.reject(line, cells, exc.errors, result)
        known = self.find_existing({duplicate_key(values) for *_, values in valid})
        created: dict[tuple[str, str], Customer] = {}
        for line, cells, data, values in valid:
            key = duplicate_key(values)
            match = created.get(key) or known.get(key)
            if match is None:
                customer = Customer(**values)
                note_location_edit(customer, address_changed=True,
                                   coordinates_given="lat" in values or "lon" in values)
                db.session.add(customer)
                created[key] = customer
                result.created += 1
                if result.created % FLUSH_ROWS == 0:
                    db.session.flush()
            elif self.on_duplicate == "skip":
                result.skipped += 1
            else:
                self.update(match, line, cells, data, result)
        db.session.flush()
        result.seqs = [customer.seq for customer in created.values()]
        return result

    def update(self, match, line: int, cells: list[str], data: dict, result: ChunkResult) -> None:
        """Change the duplicate's fields given in the row; empty cells leave a field as it is."""
        customer = match if isinstance(match, Customer) else db.session.get(Customer, match)
        keep = {"marketing_consent": "on" if customer.marketing_consent else ""}
        try:
            update_customer(self.user, customer, keep | data, form=True)
        except ValidationError as exc:
            self.reject(line, cells, exc.errors, result)
        else:
            result.updated += 1

    def reject(self, line: int, cells: list[str], errors: dict, result: ChunkResult) -> None:
        """Record a row that was not imported, with the reason in the importer's language."""
        result.errors += 1
        with force_locale(self.locale) if self.locale else nullcontext():
            reason = "; ".join(f"{FIELD_LABELS[name]}: {message}" if name in FIELD_LABELS
                               else str(message) for name, message in errors.items())
        db.session.add(ImportRowError(batch_id=self.batch_id, line=line, reason=reason,
                                      raw=json.dumps(cells, ensure_ascii=False)))


def _load_batch(batch_id: uuid.UUID) -> ImportBatch | None:
    """The batch without its file: the job and the progress page never load the bytes twice."""
    return db.session.scalar(sa.select(ImportBatch).options(sa.orm.defer(ImportBatch.content))
                             .where(ImportBatch.id == batch_id))


@handler("import")
def run_import(job: Job) -> None:
    """Import the job's batch, continuing after its last committed chunk."""
    batch = _load_batch(uuid.UUID(job.payload["batch_id"]))
    if batch is None or batch.status in ("done", "failed"):
        return
    batch_id, locale = batch.id, batch.mapping.get("locale")
    db.session.info["actor_id"] = batch.user_id
    try:
        _import(job, batch)
    except Exception:
        db.session.rollback()
        if job.attempts >= MAX_ATTEMPTS:
            with force_locale(locale or "en"):
                _finish(_load_batch(batch_id), "failed", _l(
                    "The import stopped after an internal error. The rows counted above were "
                    "imported, the others were not."))
        raise
    finally:
        db.session.info.pop("actor_id", None)


def _import(job: Job, batch: ImportBatch) -> None:
    user = db.session.get(User, batch.user_id)
    locale = batch.mapping.get("locale") or "en"
    with force_locale(locale):
        problem = territory_problem(user, batch.territory_id) if user.active else \
            _l("The user who started the import has been deactivated.")
        if problem:
            _finish(batch, "failed", problem)
            return
    content = db.session.scalar(sa.select(ImportBatch.content).where(ImportBatch.id == batch.id))
    settings = ImportSettings(batch.mapping["fields"], batch.territory_id, batch.on_duplicate)
    importer = RowImporter(user, settings, width=len(batch.columns), batch_id=batch.id,
                           locale=locale)
    rows = data_rows(content, batch.encoding, batch.delimiter)
    position = _Position.of(batch)
    # From here the batch row is written with UPDATE statements: reading the expired ORM
    # object after each commit would load the whole file again with it.
    db.session.expunge(batch)
    position.save(status="running")
    report_progress(job, position.done_rows, batch.total_rows)
    for chunk in chunked(itertools.islice(rows, position.done_rows, None), CHUNK_ROWS):
        position.add(len(chunk), importer.import_chunk(chunk))
        position.save()
        report_progress(job, position.done_rows)
    position.save(status="done", finished_at=utcnow())
    db.session.commit()
    if position.created_rows >= STATISTICS_AFTER_ROWS:
        refresh_statistics()


@dataclass
class _Position:
    """How far a batch is, kept in the job and written with each chunk's commit."""

    batch_id: uuid.UUID
    mapping: dict
    done_rows: int
    created_rows: int
    updated_rows: int
    skipped_rows: int
    error_rows: int

    @classmethod
    def of(cls, batch: ImportBatch) -> "_Position":
        return cls(batch.id, dict(batch.mapping), batch.done_rows, batch.created_rows,
                   batch.updated_rows, batch.skipped_rows, batch.error_rows)

    def add(self, rows: int, result: ChunkResult) -> None:
        self.done_rows += rows
        self.created_rows += result.created
        self.updated_rows += result.updated
        self.skipped_rows += result.skipped
        self.error_rows += result.errors
        if result.seqs:
            first, last = self.mapping.get("seq") or (min(result.seqs), max(result.seqs))
            self.mapping = self.mapping | {"seq": [min(first, *result.seqs), max(last, *result.seqs)]}

    def save(self, **values) -> None:
        db.session.execute(sa.update(ImportBatch).where(ImportBatch.id == self.batch_id).values(
            mapping=self.mapping, done_rows=self.done_rows, created_rows=self.created_rows,
            updated_rows=self.updated_rows, skipped_rows=self.skipped_rows,
            error_rows=self.error_rows, **values))


def _finish(batch: ImportBatch, status: str, message) -> None:
    batch.status = status
    batch.message = None if message is None else str(message)
    batch.finished_at = utcnow()
    db.session.commit()

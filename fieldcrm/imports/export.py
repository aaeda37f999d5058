"""CSV files for download: the filtered customer list and an import's error report.

Both are written for the spreadsheet the user most likely opens them with:
UTF-8 with a byte order mark (without it Excel reads UTF-8 as Windows-1252
and garbles umlauts, in every language), separated by semicolons for a German
user (German Excel splits on ";", since "," is its decimal separator) and by
commas otherwise. Text cells are neutralised against formula injection
(``csvfile.neutralise``). Coordinates keep a decimal point in every language,
so the file stays machine-readable and imports back unchanged; German Excel
shows them as text rather than numbers, which is the lesser evil. Status
and ABC class are written as their codes (``lead``, ``customer``, ``A``), the
same in every language, and the header row uses the form's labels, which the
import recognises in both languages: an exported file imports back.

Rows are produced a page at a time (keyset paging), so an export of 100,000
customers streams in constant memory.
"""

import json
import uuid
from collections.abc import Iterator

import sqlalchemy as sa
from flask_babel import gettext as _

from ..customers.queries import CustomerFilter, customer_page
from ..extensions import db
from ..formatting import FIELD_LABELS
from ..models import Customer, ImportBatch, Territory, User
from .csvfile import BOM, CsvWriter, neutralise, spreadsheet_delimiter
from .queries import row_errors

EXPORT_FIELDS = ("name", "street", "postal_code", "city", "country", "lat", "lon", "phone",
                 "email", "website", "status", "abc_class", "industry", "visit_interval_days",
                 "opening_hours")
NUMBER_FIELDS = {"lat", "lon", "visit_interval_days"}
PAGE_ROWS = 1000


def customers_csv(user: User, filters: CustomerFilter, locale) -> Iterator[str]:
    """The caller's customers matching ``filters``, by name, as CSV text in pieces."""
    writer = CsvWriter(spreadsheet_delimiter(locale))
    header = ["ID", *(str(FIELD_LABELS[name]) for name in EXPORT_FIELDS),
              str(FIELD_LABELS["owner_id"]), str(FIELD_LABELS["territory_id"]), _("Last change")]
    yield BOM + writer.text([header])
    names = _Names()
    after = None
    while True:
        customers, after = customer_page(user, filters, after=after, limit=PAGE_ROWS)
        names.load(customers)
        yield writer.text(_customer_row(customer, names) for customer in customers)
        if after is None:
            return


def _customer_row(customer: Customer, names: "_Names") -> list[str]:
    cells = [str(customer.id)]
    for name in EXPORT_FIELDS:
        value = getattr(customer, name)
        cells.append("" if value is None else str(value) if name in NUMBER_FIELDS
                     else neutralise(value))
    cells += [neutralise(names.users.get(customer.owner_id, "")),
              neutralise(names.territories.get(customer.territory_id, "")),
              customer.updated_at.isoformat()]
    return cells


class _Names:
    """Owner and territory names, looked up once per page for the ids not seen before."""

    def __init__(self):
        self.users: dict[uuid.UUID, str] = {}
        self.territories: dict[uuid.UUID, str] = {}

    def load(self, customers: list[Customer]) -> None:
        for model, column, known in ((User, "owner_id", self.users),
                                     (Territory, "territory_id", self.territories)):
            missing = {getattr(c, column) for c in customers} - known.keys() - {None}
            if missing:
                known.update(db.session.execute(
                    sa.select(model.id, model.name).where(model.id.in_(missing))).all())


def error_report_csv(batch: ImportBatch, locale) -> Iterator[str]:
    """The rows an import rejected: line, reason, then the row's cells under the file's header.

    With the two leading columns ignored, the report imports again once corrected.
    """
    writer = CsvWriter(spreadsheet_delimiter(locale))
    yield BOM + writer.text([[_("Line"), _("Reason"), *map(neutralise, batch.columns)]])
    page = []
    for error in row_errors(batch):
        page.append([str(error.line), neutralise(error.reason),
                     *map(neutralise, json.loads(error.raw))])
        if len(page) == PAGE_ROWS:
            yield writer.text(page)
            page = []
    yield writer.text(page)

"""CSV as spreadsheets write it, read without surprises and written so they open it safely.

Reading accepts what Excel writes in Germany (semicolons, Windows-1252 or
UTF-8 with a byte order mark) as well as comma-separated UTF-8 and Excel's
"Unicode text" (UTF-16 with a byte order mark). The encoding is found by
decoding the whole file strictly as UTF-8 first and falling back to
Windows-1252; the delimiter by ``csv.Sniffer`` over the first 64 KB,
restricted to ``; , tab |``. Files are always read as a stream of records,
never as a list of all rows, so memory stays flat however long the file is.

Writing neutralises formula injection the way OWASP advises: a cell that
starts with ``= + - @``, a tab or a carriage return gets a leading single
quote, so a spreadsheet shows it as text instead of evaluating it.
"""

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

ENCODINGS = ("utf-8-sig", "cp1252")
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
DELIMITERS = ";,\t|"
SAMPLE_CHARS = 64 * 1024
MAX_COLUMNS = 200
MAX_HEADER_CHARS = 200
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


class CsvRejected(Exception):
    """The file cannot be imported; ``message`` says why, in the user's language."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class CsvInfo:
    """What inspecting a file found: how to read it, its columns and its number of data rows."""

    encoding: str
    delimiter: str
    columns: list[str]
    rows: int


def inspect_csv(content: bytes, *, max_rows: int) -> CsvInfo:
    """Check that ``content`` is a CSV file with a usable header and at most ``max_rows`` rows.

    Reads the whole file once, as a stream, so every later read of the same
    bytes with the returned encoding and delimiter succeeds. Raises
    CsvRejected with a message for the user otherwise.
    """
    if not content.lstrip(BOM.encode() + b"\xff\xfe \t\r\n"):
        raise CsvRejected(_l("The file is empty."))
    if content.startswith(UTF16_BOMS):
        encodings = ("utf-16",)
    elif b"\x00" in content:
        raise CsvRejected(_l("This is not a CSV file: it contains binary data. "
                             "Save the spreadsheet as “CSV (semicolon separated)” and upload that."))
    else:
        encodings = ENCODINGS
    for encoding in encodings:
        try:
            return _scan(content, encoding, max_rows)
        except UnicodeDecodeError:
            continue
    raise CsvRejected(_l("The file is neither UTF-8 nor Windows-1252 text. "
                         "Save the spreadsheet as CSV and upload that."))


def _scan(content: bytes, encoding: str, max_rows: int) -> CsvInfo:
    delimiter = sniff_delimiter(open_text(content, encoding).read(SAMPLE_CHARS))
    reader = csv.reader(open_text(content, encoding), delimiter=delimiter)
    count = 0
    try:
        columns = header_columns(next(reader, []))
        for cells in reader:
            if not is_blank(cells):
                count += 1
                if count > max_rows:
                    raise CsvRejected(_l("The file has more than %(n)s rows. Split it into smaller files.",
                                         n=max_rows))
    except csv.Error as exc:
        raise CsvRejected(_l("The file could not be read as CSV near line %(line)s (%(reason)s).",
                             line=reader.line_num, reason=str(exc))) from None
    if count == 0:
        raise CsvRejected(_l("The file has a header row but no data rows."))
    return CsvInfo(encoding=encoding, delimiter=delimiter, columns=columns, rows=count)


def header_columns(cells: list[str]) -> list[str]:
    """The column names of a header row; raises CsvRejected for a missing or unusable header.

    Trailing empty cells, which spreadsheets leave behind after deleted
    columns, are dropped; an empty or repeated name elsewhere is an error,
    since a column could not be told apart from another.
    """
    names = [cell.strip() for cell in cells]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise CsvRejected(_l("The first line is empty: the file needs a header row with column names."))
    if len(names) > MAX_COLUMNS:
        raise CsvRejected(_l("The file has more than %(n)s columns.", n=MAX_COLUMNS))
    if any(len(name) > MAX_HEADER_CHARS for name in names):
        raise CsvRejected(_l("The first line does not look like a header row with column names."))
    blank = [str(index + 1) for index, name in enumerate(names) if not name]
    if blank:
        raise CsvRejected(_l("Column %(columns)s has no name in the header row.",
                             columns=", ".join(blank)))
    seen: dict[str, str] = {}
    repeated = []
    for name in names:
        key = name.casefold()
        if key in seen and name not in repeated:
            repeated.append(name)
        seen[key] = name
    if repeated:
        raise CsvRejected(_l("The header row names these columns more than once: %(names)s.",
                             names=", ".join(repeated)))
    return names


def sniff_delimiter(sample: str) -> str:
    """The delimiter of the text ``sample`` begins: csv.Sniffer, else the most frequent in line 1."""
    whole_lines = sample[: sample.rfind("\n") + 1] or sample
    first_line = whole_lines.splitlines()[0] if whole_lines.strip() else ""
    counts = {d: first_line.count(d) for d in DELIMITERS}
    try:
        delimiter = csv.Sniffer().sniff(whole_lines, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = None
    best = max(DELIMITERS, key=counts.__getitem__)
    if delimiter is None or (counts[delimiter] == 0 and counts[best] > 0):
        delimiter = best if counts[best] else ","
    return delimiter


def open_text(content: bytes, encoding: str) -> io.TextIOWrapper:
    """The bytes as a text stream, decoded strictly, newlines left to the csv module."""
    return io.TextIOWrapper(io.BytesIO(content), encoding=encoding, errors="strict", newline="")


def records(content: bytes, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Every record of the file, header included, with the line it starts on (1-based)."""
    reader = csv.reader(open_text(content, encoding), delimiter=delimiter)
    line = 1
    for cells in reader:
        yield line, cells
        line = reader.line_num + 1


def data_rows(content: bytes, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records after the header, with their line numbers."""
    rows = records(content, encoding, delimiter)
    next(rows, None)
    return ((line, cells) for line, cells in rows if not is_blank(cells))


def is_blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def chunked(iterable: Iterable, size: int) -> Iterator[list]:
    """Lists of at most ``size`` consecutive items."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def neutralise(value) -> str:
    """A cell that a spreadsheet shows as text, never evaluates as a formula (OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def restore(value: str) -> str:
    """Undo ``neutralise`` on import, so an exported file imports back unchanged."""
    if len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def spreadsheet_delimiter(locale) -> str:
    """What a spreadsheet in this locale splits CSV on: German Excel expects semicolons."""
    return ";" if str(locale or "").split("_")[0] == "de" else ","


class CsvWriter:
    """Formats rows as CSV text (CRLF line ends, as Excel writes), a batch at a time."""

    def __init__(self, delimiter: str):
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, delimiter=delimiter, lineterminator="\r\n")

    def text(self, rows: Iterable[Iterable]) -> str:
        self._writer.writerows(rows)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

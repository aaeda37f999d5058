"""CSV import and export of customers.

``csvfile`` reads what spreadsheets write (encoding, delimiter, header) and
writes what they open safely; ``operations`` holds the upload, the column
mapping and the background job that imports a file; ``queries`` the reads of
import batches; ``export`` the streamed export of the customer list.
"""

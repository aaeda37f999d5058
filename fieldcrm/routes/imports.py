"""CSV import (managers and admins) and export (everyone, of their own customers)."""

from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from ..extensions import db, htmx
from ..imports import export, operations, queries
from ..imports.csvfile import CsvRejected
from ..models import User
from ..scope import visible_territories
from ..validation import ValidationError
from .customers import _filters

bp = Blueprint("imports", __name__)
# Room for the multipart envelope and the CSRF field around the file itself.
FORM_OVERHEAD = 64 * 1024


@bp.url_value_preprocessor
def _limit_upload(endpoint, values):
    """Cap the upload before anything reads the form (the CSRF check runs before the view)."""
    if endpoint == "imports.upload":
        request.max_content_length = operations.max_upload_bytes() + FORM_OVERHEAD


@bp.before_request
@login_required
def _require_manager():
    if request.endpoint != "imports.export_customers" and current_user.role not in ("manager", "admin"):
        abort(404)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    return _upload_page(operations.too_large_message(), 413)


def _upload_page(error=None, status=200):
    return render_template("imports/upload.html", error=error,
                           batches=queries.recent_batches(current_user),
                           max_mb=operations.max_upload_bytes() / 1024 / 1024), status


@bp.route("/import", methods=["GET", "POST"])
def upload():
    if request.method == "GET":
        return _upload_page()
    file = request.files.get("file")
    if file is None or not file.filename:
        return _upload_page(_("Choose a CSV file to upload."), 422)
    try:
        batch = operations.create_batch(current_user, file.filename,
                                        file.read(operations.max_upload_bytes() + 1))
    except CsvRejected as exc:
        db.session.rollback()
        return _upload_page(exc.message, 422)
    db.session.commit()
    return redirect(url_for("imports.mapping", batch_id=batch.id), 303)


def _mapping_page(batch, importer: User, settings, errors, status=200):
    rows = operations.preview(importer, batch, queries.batch_head(batch), settings)
    context = {"batch": batch, "settings": settings, "errors": errors, "rows": rows,
               "fields": [name for name in settings.fields if name],
               "import_fields": operations.IMPORT_FIELDS}
    if htmx and htmx.target == "import-preview":
        return render_template("imports/_preview.html", **context), status, {"Vary": "HX-Request"}
    return render_template("imports/mapping.html", territories=visible_territories(importer),
                           **context), status, {"Vary": "HX-Request"}


@bp.get("/import/<batch_id>")
def mapping(batch_id):
    """The mapping form with a preview; with form values in the query, the preview of those."""
    batch = queries.batch_or_404(current_user, batch_id)
    if batch.status != "uploaded":
        return redirect(url_for("imports.progress", batch_id=batch.id))
    importer = db.session.get(User, batch.user_id)
    if "on_duplicate" in request.args:
        settings = operations.settings_from_form(batch, request.args)
    else:
        settings = operations.default_settings(importer, batch)
    return _mapping_page(batch, importer, settings, {})


@bp.post("/import/<batch_id>")
def start(batch_id):
    batch = queries.batch_or_404(current_user, batch_id)
    if batch.status != "uploaded":
        return redirect(url_for("imports.progress", batch_id=batch.id), 303)
    importer = db.session.get(User, batch.user_id)
    settings = operations.settings_from_form(batch, request.form)
    try:
        operations.start_import(importer, batch, settings, get_locale())
    except ValidationError as exc:
        db.session.rollback()
        batch = queries.batch_or_404(current_user, batch_id)
        return _mapping_page(batch, importer, settings, exc.errors, 422)
    db.session.commit()
    return redirect(url_for("imports.progress", batch_id=batch.id), 303)


@bp.get("/import/<batch_id>/progress")
def progress(batch_id):
    """The progress page; htmx polls the widget, which replaces itself until all is done."""
    batch = queries.batch_or_404(current_user, batch_id)
    context = {"batch": batch, "geocoding": queries.geocoding_progress(batch)}
    if htmx and htmx.target == "import-progress":
        return render_template("imports/_progress.html", **context), 200, {"Vary": "HX-Request"}
    return render_template("imports/progress.html", **context), 200, {"Vary": "HX-Request"}


def _csv_download(chunks, filename: str) -> Response:
    return Response(stream_with_context(chunks), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })


@bp.get("/import/<batch_id>/errors.csv")
def errors(batch_id):
    batch = queries.batch_or_404(current_user, batch_id)
    return _csv_download(export.error_report_csv(batch, get_locale()),
                         f"import-errors-{batch.created_at:%Y-%m-%d}.csv")


@bp.get("/customers/export.csv")
def export_customers():
    """The customer list as filtered on screen (q, status, abc, owner), in the caller's scope.

    The list page asks through htmx with the filter form's current values; the
    answer sends the browser to the same URL, which then downloads the file.
    """
    if htmx:
        return "", 204, {"HX-Redirect": request.full_path}
    return _csv_download(export.customers_csv(current_user, _filters(), get_locale()),
                         f"customers-{date.today():%Y-%m-%d}.csv")

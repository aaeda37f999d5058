"""Error responses: JSON in the contract's shape under /api/, a friendly page elsewhere."""

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .validation import ValidationError

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "validation_failed", 429: "too_many_requests",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, message: str, *, code: str | None = None, fields: dict | None = None,
              **extra):
    """A JSON error response in the contract's shape: {"error": {code, message, fields}}."""
    body = {"code": code or CODES.get(status, "error"), "message": str(message)}
    if fields:
        body["fields"] = {name: str(text) for name, text in fields.items()}
    body.update(extra)
    return jsonify(error=body), status


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Please log in."),
        403: _("You are not allowed to do this."),
        404: _("Not found. It may have been deleted, or it is outside your territories."),
        405: _("This method is not allowed here."),
        409: _("This conflicts with the current state."),
        413: _("The request is too large."),
        415: _("Send JSON with Content-Type: application/json."),
        429: _("Too many requests. Please wait a moment."),
    }


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        message = _("The form has expired or was sent without its security token. "
                    "Reload the page and try again.")
        if wants_json():
            return api_error(400, message, code="csrf_failed")
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(ValidationError)
    def validation_error(exc):
        return api_error(422, _("Some fields are not valid."), fields=exc.errors)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        status = exc.code or 500
        message = _messages().get(status, exc.description)
        headers = {}
        if getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
        if wants_json():
            body, status = api_error(status, message)
            return body, status, headers
        return render_template("error.html", status=status, message=message), status, headers

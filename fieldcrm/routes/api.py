"""The JSON API under /api/v1/ (see openapi.py for its description)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

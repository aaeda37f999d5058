"""CSV import and export of customers."""

from flask import Blueprint

bp = Blueprint("imports", __name__)

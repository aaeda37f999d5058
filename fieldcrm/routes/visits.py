"""Check-in and check-out, planned visits and the agenda, notes."""

from flask import Blueprint

bp = Blueprint("visits", __name__)

"""Follow-ups: lists, done, snooze, reassign."""

from flask import Blueprint

bp = Blueprint("followups", __name__)

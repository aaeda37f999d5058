"""Around me: the nearby list and the map."""

from flask import Blueprint

bp = Blueprint("nearby", __name__)

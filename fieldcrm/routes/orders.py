"""Orders: the catalogue, order lines, submit, confirmation."""

from flask import Blueprint

bp = Blueprint("orders", __name__)

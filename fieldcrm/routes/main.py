"""The entry point and the health check."""

from flask import Blueprint, redirect, url_for
from flask_login import current_user

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        home = "nearby.index" if current_user.role == "rep" else "customers.index"
        return redirect(url_for(home))
    return redirect(url_for("auth.login"))


@bp.get("/healthz")
def health():
    return {"status": "ok"}

"""Log in and out."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..auth import (
    authenticate,
    clear_login_failures,
    login_blocked_until,
    record_login_failure,
)
from ..extensions import db
from ..models import utcnow

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("main.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "GET":
        return render_template("auth/login.html")
    email = request.form.get("email", "")
    ip = request.remote_addr or ""
    blocked = login_blocked_until(email, ip)
    if blocked is not None:
        wait = format_timedelta(blocked - utcnow(), threshold=1.1)
        message = _("Too many failed attempts. Try again in %(wait)s.", wait=wait)
        return render_template("auth/login.html", error=message, email=email), 429
    user = authenticate(email, request.form.get("password", ""))
    if user is None:
        record_login_failure(email, ip)
        return render_template(
            "auth/login.html", error=_("Email or password is wrong."), email=email
        ), 401
    clear_login_failures(email)
    db.session.commit()
    login_user(user, remember=bool(request.form.get("remember")))
    current_app.logger.info("login %s", user.email)
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You are logged out."))
    return redirect(url_for("auth.login"))

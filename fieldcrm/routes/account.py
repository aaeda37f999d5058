"""The user's own settings: language, time zone, password."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..admin.operations import update_user
from ..extensions import db
from ..validation import ValidationError

bp = Blueprint("account", __name__, url_prefix="/account")
SELF_EDITABLE = ("name", "locale", "timezone", "password", "home_lat", "home_lon")


@bp.route("", methods=["GET", "POST"])
@login_required
def settings():
    if request.method == "GET":
        return render_template("account/settings.html", values={}, errors={})
    data = {k: request.form[k] for k in SELF_EDITABLE if k in request.form}
    try:
        update_user(current_user, data, form=True)
    except ValidationError as exc:
        db.session.rollback()
        return render_template("account/settings.html", values=request.form, errors=exc.errors), 422
    db.session.commit()
    flash(_("Your settings are saved."))
    return redirect(url_for("account.settings"))

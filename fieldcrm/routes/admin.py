"""The admin area: users, territories, the product catalogue."""

import functools

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..admin import operations
from ..extensions import db
from ..models import ROLES, Product, Territory, User
from ..scope import parse_uuid_or_404
from ..validation import ValidationError

bp = Blueprint("admin", __name__, url_prefix="/admin")
USER_FORM_FIELDS = ("email", "name", "role", "locale", "timezone", "password")
PRODUCT_FORM_FIELDS = tuple(operations.PRODUCT_FIELDS)


@bp.before_request
@login_required
def _require_admin():
    if current_user.role != "admin":
        abort(404)


def _get_or_404(model, object_id):
    obj = db.session.get(model, parse_uuid_or_404(object_id))
    if obj is None or getattr(obj, "deleted", False):
        abort(404)
    return obj


def _form(fields) -> dict:
    return {name: request.form[name] for name in fields if name in request.form}


def _rerender_on_error(template: str, **context):
    """Run the decorated write; on ValidationError roll back and show the form with messages."""
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except ValidationError as exc:
                db.session.rollback()
                extra = {k: (v(**kwargs) if callable(v) else v) for k, v in context.items()}
                return render_template(template, values=request.form, errors=exc.errors,
                                       **extra), 422
        return wrapper
    return decorator


@bp.get("/users")
def users():
    rows = db.session.scalars(sa.select(User).order_by(User.role, User.name)).all()
    return render_template("admin/users.html", users=rows)


@bp.get("/users/new")
def new_user():
    return render_template("admin/user_form.html", user=None, roles=ROLES, values={}, errors={})


@bp.post("/users")
@_rerender_on_error("admin/user_form.html", user=None, roles=ROLES)
def create_user():
    user = operations.create_user(_form(USER_FORM_FIELDS), form=True)
    db.session.commit()
    flash(_("User %(email)s created.", email=user.email))
    return redirect(url_for("admin.users"), 303)


@bp.get("/users/<user_id>")
def edit_user(user_id):
    user = _get_or_404(User, user_id)
    return render_template("admin/user_form.html", user=user, roles=ROLES, values={}, errors={})


@bp.post("/users/<user_id>")
@_rerender_on_error("admin/user_form.html", user=lambda user_id: _get_or_404(User, user_id),
                    roles=ROLES)
def update_user(user_id):
    user = _get_or_404(User, user_id)
    operations.update_user(user, _form(USER_FORM_FIELDS), form=True)
    db.session.commit()
    flash(_("Changes saved."))
    return redirect(url_for("admin.users"), 303)


@bp.post("/users/<user_id>/active")
def set_active(user_id):
    user = _get_or_404(User, user_id)
    active = request.form.get("active") == "1"
    if user.id == current_user.id and not active:
        flash(_("You cannot deactivate yourself."), "error")
        return redirect(url_for("admin.users"), 303)
    operations.set_active(user, active)
    db.session.commit()
    flash(_("%(email)s is active again.", email=user.email) if active
          else _("%(email)s is deactivated and can no longer log in.", email=user.email))
    return redirect(url_for("admin.users"), 303)


@bp.post("/users/<user_id>/reset-password")
def reset_password(user_id):
    user = _get_or_404(User, user_id)
    password = operations.reset_password(user)
    db.session.commit()
    return render_template("admin/password_reset.html", user=user, password=password)


@bp.get("/territories")
def territories():
    rows = db.session.scalars(
        sa.select(Territory).where(~Territory.deleted).order_by(Territory.name)
    ).all()
    return render_template("admin/territories.html", territories=rows)


def _territory_context(territory_id=None):
    users = db.session.scalars(sa.select(User).where(User.active).order_by(User.name)).all()
    return {
        "territory": _get_or_404(Territory, territory_id) if territory_id else None,
        "managers": [u for u in users if u.role == "manager"],
        "reps": [u for u in users if u.role == "rep"],
    }


@bp.get("/territories/new")
def new_territory():
    return render_template("admin/territory_form.html", values={}, errors={}, **_territory_context())


@bp.post("/territories")
def create_territory():
    return _save_territory(None)


@bp.get("/territories/<territory_id>")
def edit_territory(territory_id):
    return render_template("admin/territory_form.html", values={}, errors={},
                           **_territory_context(territory_id))


@bp.post("/territories/<territory_id>")
def update_territory(territory_id):
    return _save_territory(territory_id)


def _save_territory(territory_id):
    territory = _get_or_404(Territory, territory_id) if territory_id else None
    try:
        operations.save_territory(territory, _form(("name", "manager_id")),
                                  request.form.getlist("rep_ids"), form=True)
    except ValidationError as exc:
        db.session.rollback()
        return render_template("admin/territory_form.html", values=request.form, errors=exc.errors,
                               **_territory_context(territory_id)), 422
    db.session.commit()
    flash(_("Territory saved."))
    return redirect(url_for("admin.territories"), 303)


@bp.get("/products")
def products():
    rows = db.session.scalars(
        sa.select(Product).where(~Product.deleted).order_by(Product.name)
    ).all()
    return render_template("admin/products.html", products=rows)


@bp.get("/products/new")
def new_product():
    return render_template("admin/product_form.html", product=None, values={}, errors={})


@bp.post("/products")
@_rerender_on_error("admin/product_form.html", product=None)
def create_product():
    operations.create_product(_form(PRODUCT_FORM_FIELDS), form=True)
    db.session.commit()
    flash(_("Product saved."))
    return redirect(url_for("admin.products"), 303)


@bp.get("/products/<product_id>")
def edit_product(product_id):
    return render_template("admin/product_form.html", product=_get_or_404(Product, product_id),
                           values={}, errors={})


@bp.post("/products/<product_id>")
@_rerender_on_error("admin/product_form.html",
                    product=lambda product_id: _get_or_404(Product, product_id))
def update_product(product_id):
    operations.update_product(_get_or_404(Product, product_id), _form(PRODUCT_FORM_FIELDS), form=True)
    db.session.commit()
    flash(_("Product saved."))
    return redirect(url_for("admin.products"), 303)


@bp.get("/settings")
def settings():
    from ..admin.settings_form import current_values

    return render_template("admin/settings.html", values=current_values(), errors={})


@bp.post("/settings")
def save_settings():
    from ..admin import settings_form
    from ..analytics.nightly import request_run

    try:
        changed = settings_form.save_settings(request.form, form=True)
    except ValidationError as exc:
        db.session.rollback()
        return render_template("admin/settings.html", values=request.form, errors=exc.errors), 422
    if changed & settings_form.ANALYTICS_KEYS:
        request_run()
        flash(_("Settings saved. ABC classes and at-risk flags are being recomputed."))
    else:
        flash(_("Settings saved."))
    db.session.commit()
    return redirect(url_for("admin.settings"), 303)

"""Customers and their contacts, for reps, managers and admins."""

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..customers import operations, queries
from ..extensions import db, htmx
from ..models import ABC_CLASSES, CUSTOMER_STATUSES, Contact, Customer
from ..scope import contact_or_404, customer_or_404, team_members, visible_territories
from ..validation import ValidationError, search_term

bp = Blueprint("customers", __name__)
CUSTOMER_FORM_FIELDS = tuple(operations.CUSTOMER_FIELDS)
CONTACT_FORM_FIELDS = ("name", "role", "phone", "email", "birthday")
PREFILL_FIELDS = ("name", "street", "postal_code", "city", "country", "lat", "lon")


@bp.before_request
@login_required
def _require_login():
    return None


def _filters() -> queries.CustomerFilter:
    args = request.args
    owner_id = None
    if args.get("owner"):
        try:
            owner_id = uuid.UUID(args["owner"])
        except ValueError:
            owner_id = None
    return queries.CustomerFilter(
        q=search_term(args.get("q", "")),
        status=args.get("status", "") if args.get("status") in CUSTOMER_STATUSES else "",
        abc_class=args.get("abc", "") if args.get("abc") in ABC_CLASSES else "",
        owner_id=owner_id,
    )


@bp.get("/customers")
def index():
    filters = _filters()
    rows, next_cursor = queries.customer_page(current_user, filters, after=request.args.get("after"))
    context = {"customers": rows, "next_cursor": next_cursor, "filters": filters}
    if htmx and htmx.target in ("customer-rows", "more-customers"):
        response = render_template("customers/_rows.html", **context)
    else:
        owners = team_members(current_user) if current_user.role != "rep" else []
        response = render_template("customers/index.html", owners=owners, **context)
    return response, 200, {"Vary": "HX-Request"}


def _form_context(customer: Customer | None, values, errors):
    return {
        "customer": customer, "values": values, "errors": errors,
        "territories": visible_territories(current_user),
        "owners": team_members(current_user),
        "statuses": CUSTOMER_STATUSES, "abc_classes": ABC_CLASSES,
    }


def _form_data(fields) -> dict:
    return {name: request.form[name] for name in fields if name in request.form}


@bp.get("/customers/new")
def new():
    """The empty form, prefilled from the query (the map's "create customer here")."""
    prefill = {name: request.args[name] for name in PREFILL_FIELDS if request.args.get(name)}
    return render_template("customers/form.html", **_form_context(None, prefill, {}))


@bp.post("/customers")
def create():
    try:
        customer = operations.create_customer(current_user, _form_data(CUSTOMER_FORM_FIELDS), form=True)
    except ValidationError as exc:
        db.session.rollback()
        return render_template("customers/form.html",
                               **_form_context(None, request.form, exc.errors)), 422
    db.session.commit()
    flash(_("Customer %(name)s created.", name=customer.name))
    return redirect(url_for("customers.show", customer_id=customer.id), 303)


@bp.get("/customers/<customer_id>")
def show(customer_id):
    customer = customer_or_404(current_user, customer_id)
    history, history_next = queries.history_page(customer)
    return render_template(
        "customers/show.html", customer=customer, contacts=queries.contacts_of(customer),
        history=history, history_next=history_next,
    )


@bp.get("/customers/<customer_id>/working")
def working(customer_id):
    """The customer page's working panels (visit, note, follow-ups, orders): loaded by the
    page once it is shown (htmx), or a page of their own without JavaScript."""
    customer = customer_or_404(current_user, customer_id)
    if htmx:
        return render_template("customers/_working.html", customer=customer), {"Vary": "HX-Request"}
    return render_template("visits/action.html", part="customers/_working.html", customer=customer)


@bp.get("/customers/<customer_id>/history")
def history(customer_id):
    customer = customer_or_404(current_user, customer_id)
    entries, next_cursor = queries.history_page(customer, after=request.args.get("after"))
    return render_template("customers/_history.html", customer=customer, history=entries,
                           history_next=next_cursor)


@bp.get("/customers/<customer_id>/edit")
def edit(customer_id):
    customer = customer_or_404(current_user, customer_id)
    return render_template("customers/form.html", **_form_context(customer, {}, {}))


@bp.post("/customers/<customer_id>/edit")
def update(customer_id):
    customer = customer_or_404(current_user, customer_id)
    try:
        operations.update_customer(current_user, customer, _form_data(CUSTOMER_FORM_FIELDS), form=True)
    except ValidationError as exc:
        db.session.rollback()
        customer = customer_or_404(current_user, customer_id)
        return render_template("customers/form.html",
                               **_form_context(customer, request.form, exc.errors)), 422
    db.session.commit()
    flash(_("Changes saved."))
    return redirect(url_for("customers.show", customer_id=customer.id), 303)


@bp.post("/customers/<customer_id>/location")
def move_pin(customer_id):
    """The pin was dragged on the customer page: its coordinates are now set by hand."""
    customer = customer_or_404(current_user, customer_id)
    try:
        operations.update_customer(current_user, customer, operations.pin_input(request.form))
    except ValidationError as exc:
        db.session.rollback()
        customer = customer_or_404(current_user, customer_id)
        message = "; ".join(str(m) for m in exc.errors.values())
        return render_template("customers/_geocode_status.html", customer=customer, pin_error=message), 422
    db.session.commit()
    return render_template("customers/_geocode_status.html", customer=customer)


@bp.post("/customers/<customer_id>/delete")
def delete(customer_id):
    customer = customer_or_404(current_user, customer_id)
    if not operations.may_delete(current_user, customer):
        abort(403)
    operations.delete_customer(customer)
    db.session.commit()
    flash(_("Customer %(name)s deleted.", name=customer.name))
    return redirect(url_for("customers.index"), 303)


@bp.get("/customers/<customer_id>/contacts/new")
def new_contact(customer_id):
    customer = customer_or_404(current_user, customer_id)
    return render_template("customers/contact_form.html", customer=customer, contact=None,
                           values={}, errors={})


@bp.post("/customers/<customer_id>/contacts")
def create_contact(customer_id):
    customer = customer_or_404(current_user, customer_id)
    data = _form_data(CONTACT_FORM_FIELDS) | {"customer_id": str(customer.id)}
    try:
        operations.create_contact(current_user, data, form=True)
    except ValidationError as exc:
        db.session.rollback()
        customer = customer_or_404(current_user, customer_id)
        return render_template("customers/contact_form.html", customer=customer, contact=None,
                               values=request.form, errors=exc.errors), 422
    db.session.commit()
    flash(_("Contact added."))
    return redirect(url_for("customers.show", customer_id=customer.id), 303)


def _contact_page(contact: Contact, values, errors, status=200):
    return render_template("customers/contact_form.html", customer=contact.customer,
                           contact=contact, values=values, errors=errors), status


@bp.get("/contacts/<contact_id>/edit")
def edit_contact(contact_id):
    return _contact_page(contact_or_404(current_user, contact_id), {}, {})


@bp.post("/contacts/<contact_id>/edit")
def update_contact(contact_id):
    contact = contact_or_404(current_user, contact_id)
    try:
        operations.update_contact(current_user, contact, _form_data(CONTACT_FORM_FIELDS), form=True)
    except ValidationError as exc:
        db.session.rollback()
        return _contact_page(contact_or_404(current_user, contact_id), request.form, exc.errors, 422)
    db.session.commit()
    flash(_("Changes saved."))
    return redirect(url_for("customers.show", customer_id=contact.customer_id), 303)


@bp.post("/contacts/<contact_id>/delete")
def delete_contact(contact_id):
    contact = contact_or_404(current_user, contact_id)
    operations.delete_contact(contact)
    db.session.commit()
    flash(_("Contact removed."))
    return redirect(url_for("customers.show", customer_id=contact.customer_id), 303)

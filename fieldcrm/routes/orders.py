"""Orders: the order form with catalogue search and live totals, the order page,
submit / confirm / cancel, the printable confirmation, the list of recent orders."""

import re
import secrets
from itertools import zip_longest

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db, htmx
from ..models import ORDER_STATUSES, Customer, Order
from ..orders import operations, queries
from ..orders.pricing import line_amount, price_order
from ..scope import customer_or_404
from ..validation import ValidationError

bp = Blueprint("orders", __name__)
LINE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@bp.before_request
@login_required
def _require_login():
    return None


@bp.errorhandler(operations.OrderError)
def _order_error(exc: operations.OrderError):
    db.session.rollback()
    return render_template("error.html", status=exc.status, message=exc.message), exc.status


@bp.app_template_global()
def customer_orders(customer: Customer) -> list[Order]:
    """For the customer page: the customer's open and recent orders."""
    return queries.orders_for_customer(customer)


@bp.app_template_filter()
def input_decimal(value) -> str:
    """A decimal as the user types it back into a form field: locale's decimal mark,
    no thousands separator, no trailing zeros (1.500 → "1,5" in German)."""
    return "" if value is None else format_decimal(value, format="0.###")


def _raw_lines() -> list[dict]:
    """The order lines of the posted form (repeated fields, one group per line).

    Only product, quantity and discount are read: a price in the form is never looked at.
    """
    form = request.form
    columns = zip_longest(form.getlist("line_key"), form.getlist("product_id"),
                          form.getlist("quantity"), form.getlist("line_discount_pct"),
                          fillvalue="")
    lines = []
    for index, (key, product_id, quantity, discount) in enumerate(columns):
        lines.append({"key": key if LINE_KEY_RE.match(key) else f"line{index}",
                      "product_id": product_id, "quantity": quantity, "discount_pct": discount})
    return lines


def _order_data(raw_lines: list[dict], customer: Customer | None = None) -> dict:
    data = {
        "discount_pct": request.form.get("discount_pct", ""),
        "lines": [{name: line[name] for name in ("product_id", "quantity", "discount_pct")}
                  for line in raw_lines],
    }
    if customer is not None:
        data |= {"customer_id": str(customer.id), "visit_id": request.form.get("visit_id", "")}
    return data


def _form_lines(raw_lines: list[dict], quoted: operations.Quote, errors: dict) -> list[dict]:
    """What the form shows per line: the typed text, the product, the amount, the messages."""
    shown = []
    for raw, line in zip(raw_lines, quoted.lines, strict=True):
        prefix = f"lines.{line.index}."
        shown.append(raw | {
            "product": line.product,
            "amount": line.priced.amount if line.priced else None,
            "errors": {name[len(prefix):]: text for name, text in errors.items()
                       if name.startswith(prefix)} | (
                {"line": errors[f"lines.{line.index}"]} if f"lines.{line.index}" in errors else {}),
        })
    return shown


def _form_page(customer: Customer, order: Order | None, lines: list[dict], values, errors,
               price, status=200):
    return render_template(
        "orders/form.html", customer=customer, order=order, lines=lines, values=values,
        errors=errors, price=price, max_discount=operations.max_discount_pct(),
    ), status


@bp.get("/customers/<customer_id>/orders/new")
def new(customer_id):
    customer = customer_or_404(current_user, customer_id)
    values = {"visit_id": request.args.get("visit_id", "")}
    return _form_page(customer, None, [], values, {}, price_order([]))


@bp.post("/customers/<customer_id>/orders")
def create(customer_id):
    customer = customer_or_404(current_user, customer_id)
    raw_lines = _raw_lines()
    data = _order_data(raw_lines, customer)
    try:
        order = operations.create_order(current_user, data, form=True)
        if request.form.get("action") == "submit":
            operations.submit_order(current_user, order)
    except ValidationError as exc:
        db.session.rollback()
        return _invalid_form(customer_id, None, raw_lines, data, exc.errors)
    db.session.commit()
    flash(_("Order submitted.") if order.status == "submitted" else _("Draft saved."))
    return redirect(url_for("orders.show", order_id=order.id), 303)


def _invalid_form(customer_id, order_id, raw_lines, data, errors):
    customer = customer_or_404(current_user, customer_id)
    order = queries.order_or_404(current_user, order_id) if order_id else None
    quoted = operations.quote(data, form=True)
    return _form_page(customer, order, _form_lines(raw_lines, quoted, errors), request.form,
                      errors, quoted.price, 422)


@bp.post("/customers/<customer_id>/orders/preview")
def preview(customer_id):
    """The live totals of the order form: the server prices, the browser only shows."""
    customer_or_404(current_user, customer_id)
    raw_lines = _raw_lines()
    quoted = operations.quote(_order_data(raw_lines), form=True)
    return render_template("orders/_preview.html", price=quoted.price, errors=quoted.errors,
                           lines=_form_lines(raw_lines, quoted, quoted.errors))


@bp.get("/orders/products")
def products():
    """Catalogue search for the order form (name or SKU), as rows to add."""
    rows = queries.search_products(request.args.get("q", ""))
    return render_template("orders/_products.html", products=rows), 200, {"Vary": "HX-Request"}


@bp.get("/orders/line")
def line():
    """A new line of the order form for one active product, quantity 1."""
    product = queries.active_product_or_404(request.args.get("product_id"))
    new_line = {"key": secrets.token_hex(6), "product": product, "product_id": str(product.id),
                "quantity": "1", "discount_pct": "",
                "amount": line_amount(1, product.net_price, 0), "errors": {}}
    return (render_template("orders/_line.html", line=new_line), 200,
            {"HX-Trigger-After-Settle": "lines-changed"})


@bp.get("/orders")
def index():
    status = request.args.get("status", "")
    status = status if status in ORDER_STATUSES else ""
    rows, next_cursor = queries.orders_page(current_user, status=status or None,
                                            after=request.args.get("after"))
    context = {"orders": rows, "next_cursor": next_cursor, "status": status}
    if htmx and htmx.target == "more-orders":
        response = render_template("orders/_rows.html", **context)
    else:
        response = render_template("orders/index.html", **context)
    return response, 200, {"Vary": "HX-Request"}


@bp.get("/orders/<order_id>")
def show(order_id):
    order = queries.order_or_404(current_user, order_id)
    return render_template("orders/show.html", order=order, price=queries.order_price(order),
                           actions=operations.allowed_actions(current_user, order))


@bp.get("/orders/<order_id>/print")
def print_view(order_id):
    order = queries.order_or_404(current_user, order_id)
    return render_template("orders/print.html", order=order, price=queries.order_price(order))


@bp.get("/orders/<order_id>/edit")
def edit(order_id):
    order = queries.order_or_404(current_user, order_id)
    operations.require_editable(current_user, order)
    price = queries.order_price(order)
    lines = [{"key": f"line{line.position}", "product": line.product,
              "product_id": str(line.product_id), "quantity": input_decimal(line.quantity),
              "discount_pct": input_decimal(line.discount_pct) if line.discount_pct else "",
              "amount": priced.amount, "errors": {}}
             for line, priced in zip(order.lines, price.lines, strict=True)]
    values = {"visit_id": str(order.visit_id or ""),
              "discount_pct": input_decimal(order.discount_pct) if order.discount_pct else ""}
    return _form_page(order.customer, order, lines, values, {}, price)


@bp.post("/orders/<order_id>/edit")
def update(order_id):
    order = queries.order_or_404(current_user, order_id)
    raw_lines = _raw_lines()
    data = _order_data(raw_lines, order.customer)
    try:
        operations.update_order(current_user, order, data, form=True)
        if request.form.get("action") == "submit":
            operations.submit_order(current_user, order)
    except ValidationError as exc:
        db.session.rollback()
        order = queries.order_or_404(current_user, order_id)
        return _invalid_form(order.customer_id, order.id, raw_lines, data, exc.errors)
    db.session.commit()
    flash(_("Order submitted.") if order.status == "submitted" else _("Draft saved."))
    return redirect(url_for("orders.show", order_id=order.id), 303)


def _transition(order_id, operation, message):
    order = queries.order_or_404(current_user, order_id)
    try:
        operation(current_user, order)
    except ValidationError as exc:
        db.session.rollback()
        order = queries.order_or_404(current_user, order_id)
        return render_template("orders/show.html", order=order, price=queries.order_price(order),
                               actions=operations.allowed_actions(current_user, order),
                               errors=exc.errors), 422
    db.session.commit()
    flash(message)
    return redirect(url_for("orders.show", order_id=order.id), 303)


@bp.post("/orders/<order_id>/submit")
def submit(order_id):
    return _transition(order_id, operations.submit_order, _("Order submitted."))


@bp.post("/orders/<order_id>/confirm")
def confirm(order_id):
    return _transition(order_id, operations.confirm_order, _("Order confirmed."))


@bp.post("/orders/<order_id>/cancel")
def cancel(order_id):
    return _transition(order_id, operations.cancel_order, _("Order cancelled."))

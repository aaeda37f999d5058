"""Writes to orders: create and change drafts, submit, confirm, cancel.

Each function changes rows and flushes; the caller commits, so a sync batch
can hold many changes in one transaction. The same functions serve the HTML
views, the JSON API and the sync endpoint.

Prices are never taken from the caller: every line is priced with the
catalogue's current net price and VAT rate (``fieldcrm.orders.pricing``), and
those are saved with the line as its snapshot. A draft is re-priced when it is
saved and again when it is submitted; from then on the order is immutable.

Who may do what (reps only their own orders, managers and admins every order
in their scope; the scope itself is checked by the caller through
``orders.queries.order_or_404`` / ``customer_or_404``):

    draft      → edit, submit, cancel      creator, manager, admin
    submitted  → cancel                    creator, manager, admin
    submitted  → confirmed                 manager, admin
    confirmed, cancelled                   final
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..history import record_activity
from ..models import Order, OrderLine, Product, User, Visit, utcnow
from ..scope import visible_customer
from ..settings import get_setting
from ..validation import Field, Invalid, ValidationError, clean
from . import queries
from .pricing import LineInput, OrderPrice, PricedLine, price_order

MAX_QUANTITY = Decimal(100_000)
QUANTITY_PLACES = 3
MAX_LINES = 200
# The largest amount the Money columns (NUMERIC(12, 2)) hold.
MAX_AMOUNT = Decimal("9999999999.99")


class OrderError(Exception):
    """A change the order's state or the user's role does not allow; ``status`` is the HTTP answer."""

    status = 409
    code = "order_locked"

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class OrderLocked(OrderError):
    """The order is no longer a draft (or not in the state the transition needs)."""


class OrderForbidden(OrderError):
    """The user sees the order but may not make this change."""

    status = 403
    code = "forbidden"


LOCKED_MESSAGES = {
    "submitted": _l("This order was submitted and can no longer be changed."),
    "confirmed": _l("This order was confirmed and can no longer be changed."),
    "cancelled": _l("This order was cancelled and can no longer be changed."),
}


@dataclass(frozen=True)
class QuantityField(Field):
    """A positive decimal quantity with up to three places (1.5 kg), at most MAX_QUANTITY.

    Forms may use the decimal comma ("1,5"); then dots are read as thousands
    separators, as ``validation`` does for other decimals.
    """

    kind: str = "decimal"

    def parse(self, value, *, form: bool):
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            raise Invalid(_l("This field is required."))
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise Invalid(_l("Must be a number."))
        text = str(value)
        if form and "," in text:
            text = text.replace(".", "").replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise Invalid(_l("Must be a number.")) from None
        if not number.is_finite():
            raise Invalid(_l("Must be a number."))
        if number <= 0:
            raise Invalid(_l("Must be more than 0."))
        if number > MAX_QUANTITY:
            raise Invalid(_l("At most %(max)s.", max=format_decimal(MAX_QUANTITY)))
        if number.as_tuple().exponent < -QUANTITY_PLACES:
            raise Invalid(_l("Must be a number with at most three decimal places."))
        return number


ORDER_FIELDS = {
    "customer_id": Field("uuid", required=True),
    "visit_id": Field("uuid"),
    "status": Field("choice", choices=("draft", "submitted")),
    "discount_pct": Field("decimal", minimum=0, maximum=100),
}
# The writable fields of an existing order besides ``lines`` and ``status``.
UPDATE_FIELDS = {
    "customer_id": Field("uuid"),
    "visit_id": Field("uuid"),
    "discount_pct": Field("decimal", minimum=0, maximum=100),
}
LINE_FIELDS = {
    "product_id": Field("uuid", required=True),
    "quantity": QuantityField(required=True),
    "discount_pct": Field("decimal", minimum=0, maximum=100),
}
STATUS_FIELD = {"status": Field("choice", choices=("draft", "submitted", "confirmed", "cancelled"))}


def max_discount_pct() -> Decimal:
    """The admin's limit for line and order discounts, in percent."""
    return Decimal(str(get_setting("max_discount_pct")))


def _discount_rule(limit: Decimal):
    def check(values: dict) -> dict:
        discount = values.get("discount_pct")
        if discount is not None and discount > limit:
            return {"discount_pct": _l("At most %(max)s %% discount.", max=format_decimal(limit))}
        return {}
    return check


@dataclass
class QuotedLine:
    """One input line: its typed values and product when valid, and its price."""

    index: int
    product: Product | None = None
    values: dict | None = None
    priced: PricedLine | None = None


@dataclass
class Quote:
    """Input lines priced from the catalogue. ``price`` covers the valid lines only;
    ``errors`` maps "discount_pct", "lines" and "lines.<index>.<field>" to messages."""

    lines: list[QuotedLine]
    price: OrderPrice
    discount_pct: Decimal
    errors: dict = field(default_factory=dict)

    def valid_lines(self) -> list[QuotedLine]:
        return [line for line in self.lines if line.priced is not None]


def quote(data: Mapping, *, form: bool) -> Quote:
    """Price the ``discount_pct`` and ``lines`` of ``data`` without writing anything.

    Never raises for bad input: every problem is in ``Quote.errors``, so the
    order form can show live totals of the valid lines next to the messages.
    """
    errors: dict = {}
    limit = max_discount_pct()
    discount = Decimal(0)
    if data.get("discount_pct") not in (None, ""):
        try:
            # Blank (spaces only) cleans to None: no order discount.
            discount = clean({"discount_pct": ORDER_FIELDS["discount_pct"]},
                             {"discount_pct": data["discount_pct"]}, partial=True, form=form,
                             check=_discount_rule(limit))["discount_pct"] or Decimal(0)
        except ValidationError as exc:
            errors.update(exc.errors)
    return _quote_lines(data.get("lines", []), discount, limit, form=form, errors=errors)


def _quote_lines(raw_lines, discount: Decimal, limit: Decimal, *, form: bool,
                 errors: dict) -> Quote:
    if not isinstance(raw_lines, list | tuple):
        errors["lines"] = _l("Must be a list of order lines.")
        raw_lines = []
    elif len(raw_lines) > MAX_LINES:
        errors["lines"] = _l("At most %(n)s lines per order.", n=MAX_LINES)
        raw_lines = []
    lines = []
    for index, raw in enumerate(raw_lines):
        line = QuotedLine(index)
        lines.append(line)
        if not isinstance(raw, Mapping):
            errors[f"lines.{index}"] = _l("Must be an order line object.")
            continue
        try:
            line.values = clean(LINE_FIELDS, raw, partial=False, form=form,
                                check=_discount_rule(limit))
        except ValidationError as exc:
            errors.update({f"lines.{index}.{name}": text for name, text in exc.errors.items()})
    products = queries.products_by_id(line.values["product_id"] for line in lines if line.values)
    for line in lines:
        if line.values is None:
            continue
        product = products.get(line.values["product_id"])
        if product is None or product.deleted:
            errors[f"lines.{line.index}.product_id"] = _l("Unknown product.")
            line.values = None
        elif not product.active:
            errors[f"lines.{line.index}.product_id"] = _l(
                "%(name)s is no longer sold.", name=product.name)
            line.values = None
        line.product = product
    valid = [line for line in lines if line.values is not None]
    price = price_order([LineInput(quantity=line.values["quantity"], unit_price=line.product.net_price,
                                   vat_rate=line.product.vat_rate,
                                   discount_pct=line.values.get("discount_pct") or Decimal(0))
                         for line in valid], discount)
    for line, priced in zip(valid, price.lines, strict=True):
        line.priced = priced
    if price.gross > MAX_AMOUNT:
        errors.setdefault("lines", _l("The order total is too large."))
    return Quote(lines=lines, price=price, discount_pct=discount, errors=errors)


def _set_lines(order: Order, quoted: Quote) -> None:
    """Replace the order's lines and totals with ``quoted`` (which must be free of errors).

    Lines are a child table, so the order row itself is touched too: its
    version then bumps at flush and an offline client pulls the new lines.
    """
    order.lines = [
        OrderLine(position=position, product_id=line.product.id, quantity=line.priced.quantity,
                  unit_price=line.priced.unit_price, discount_pct=line.priced.discount_pct,
                  vat_rate=line.priced.vat_rate, net=line.priced.net, vat=line.priced.vat)
        for position, line in enumerate(quoted.valid_lines(), start=1)
    ]
    order.discount_pct = quoted.discount_pct
    order.net_total = quoted.price.net
    order.vat_total = quoted.price.vat
    order.gross_total = quoted.price.gross
    order.updated_at = utcnow()


def _visit_of(customer_id: uuid.UUID, visit_id: uuid.UUID) -> bool:
    return db.session.scalar(
        sa.select(Visit.id).where(Visit.id == visit_id, Visit.customer_id == customer_id,
                                  ~Visit.deleted)
    ) is not None


def _collect(spec: Mapping[str, Field], data: Mapping, *, partial: bool, form: bool,
             errors: dict, check=None) -> dict:
    try:
        return clean(spec, data, partial=partial, form=form, check=check)
    except ValidationError as exc:
        errors.update(exc.errors)
        return {}


def _summary(order: Order) -> str:
    """The history summary of an order: its gross total as a decimal string ("62.17")."""
    return f"{order.gross_total:.2f}"


def create_order(user: User, data: Mapping, *, form: bool = False,
                 order_id: uuid.UUID | None = None) -> Order:
    """A new draft order with priced lines for a customer ``user`` may see.

    ``data``: customer_id, lines [{product_id, quantity, discount_pct}], and
    optionally discount_pct, visit_id and status ("submitted" submits it at once,
    as an offline client does). Raises ValidationError listing every problem;
    nothing is written then.
    """
    data = dict(data)
    raw_lines = data.pop("lines", [])
    errors: dict = {}
    values = _collect(ORDER_FIELDS, data, partial=False, form=form, errors=errors,
                      check=_discount_rule(max_discount_pct()))
    quoted = _quote_lines(raw_lines, values.get("discount_pct") or Decimal(0),
                          max_discount_pct(), form=form, errors=errors)
    customer_id = values.get("customer_id")
    if customer_id and visible_customer(user, customer_id) is None:
        errors["customer_id"] = _l("Unknown customer.")
    if customer_id and values.get("visit_id") and not _visit_of(customer_id, values["visit_id"]):
        errors["visit_id"] = _l("Unknown visit.")
    if values.get("status") == "submitted" and not quoted.lines:
        errors.setdefault("lines", _l("Add at least one line before submitting."))
    if errors:
        raise ValidationError(errors)
    order = Order(id=order_id or uuid.uuid4(), customer_id=customer_id, user_id=user.id,
                  visit_id=values.get("visit_id"), status="draft")
    _set_lines(order, quoted)
    db.session.add(order)
    db.session.flush()
    record_activity(order.customer_id, "order", order.id, user_id=user.id,
                    summary=_summary(order), field="created")
    if values.get("status") == "submitted":
        submit_order(user, order)
    db.session.flush()
    return order


def _lock(order: Order) -> None:
    """Reload the order under a row lock (PostgreSQL), so a concurrent submit or edit
    waits for this transaction and then sees its result instead of overwriting it."""
    db.session.refresh(order, with_for_update=True)


def may_change(user: User, order: Order) -> bool:
    """Whether ``user`` may edit, submit or cancel ``order`` (its state aside)."""
    return user.role in ("manager", "admin") or order.user_id == user.id


def allowed_actions(user: User, order: Order) -> set[str]:
    """What the order page offers ``user``: a subset of edit, submit, confirm, cancel."""
    actions = set()
    if may_change(user, order):
        if order.status == "draft":
            actions |= {"edit", "submit", "cancel"}
        elif order.status == "submitted":
            actions.add("cancel")
    if order.status == "submitted" and user.role in ("manager", "admin"):
        actions.add("confirm")
    return actions


def require_editable(user: User, order: Order) -> None:
    """Raise OrderForbidden or OrderLocked unless ``user`` may edit ``order`` now."""
    _require_change(user, order)
    _require_draft(order)


def _require_change(user: User, order: Order) -> None:
    if not may_change(user, order):
        raise OrderForbidden(_l("Only the rep who took this order or a manager can change it."))


def _require_draft(order: Order) -> None:
    if order.status != "draft":
        raise OrderLocked(LOCKED_MESSAGES[order.status])


def update_order(user: User, order: Order, data: Mapping, *, form: bool = False) -> Order:
    """Change a draft: discount_pct, visit_id and lines (given lines replace all of them).

    A form sends everything; JSON only the fields to change (the lines are
    re-priced either way). With ``status`` the order then moves there (see
    ``set_status``), so ``{"status": "submitted"}`` submits it. Raises
    OrderLocked once the order is no longer a draft, OrderForbidden for another
    rep's order, ValidationError for bad input; nothing is written then.
    """
    data = dict(data)
    status = data.pop("status", None)
    if data:
        _lock(order)
        require_editable(user, order)
        raw_lines = data.pop("lines", None)
        errors: dict = {}
        values = _collect(UPDATE_FIELDS, data, partial=not form, form=form, errors=errors,
                          check=_discount_rule(max_discount_pct()))
        if values.get("customer_id") not in (None, order.customer_id):
            errors["customer_id"] = _l("The customer of an order cannot be changed.")
        if values.get("visit_id") and not _visit_of(order.customer_id, values["visit_id"]):
            errors["visit_id"] = _l("Unknown visit.")
        discount = values.get("discount_pct", order.discount_pct if not form else None)
        if raw_lines is None and not form:
            raw_lines = _stored_lines(order)
        quoted = _quote_lines(raw_lines or [], discount or Decimal(0), max_discount_pct(),
                              form=form, errors=errors)
        if errors:
            raise ValidationError(errors)
        if "visit_id" in values:
            order.visit_id = values["visit_id"]
        _set_lines(order, quoted)
        db.session.flush()
        record_activity(order.customer_id, "order", order.id, user_id=user.id,
                        summary=_summary(order), field="updated")
    if status is not None:
        set_status(user, order, status)
    db.session.flush()
    return order


def _stored_lines(order: Order) -> list[dict]:
    """The order's lines as input, to re-price them with the current catalogue."""
    return [{"product_id": str(line.product_id), "quantity": str(line.quantity),
             "discount_pct": str(line.discount_pct)} for line in order.lines]


def submit_order(user: User, order: Order) -> Order:
    """draft → submitted: re-priced with the current catalogue, then immutable.

    Needs at least one line; a product no longer sold or a discount above the
    current limit is a ValidationError, and the order stays a draft.
    """
    _lock(order)
    _require_change(user, order)
    _require_draft(order)
    if not order.lines:
        raise ValidationError({"lines": _l("Add at least one line before submitting.")})
    quoted = quote({"discount_pct": str(order.discount_pct), "lines": _stored_lines(order)},
                   form=False)
    if quoted.errors:
        raise ValidationError(quoted.errors)
    _set_lines(order, quoted)
    order.status = "submitted"
    order.submitted_at = utcnow()
    db.session.flush()
    record_activity(order.customer_id, "order", order.id, user_id=user.id,
                    summary=_summary(order), field="submitted")
    db.session.flush()
    return order


def confirm_order(user: User, order: Order) -> Order:
    """submitted → confirmed; only managers and admins confirm."""
    _lock(order)
    if user.role not in ("manager", "admin"):
        raise OrderForbidden(_l("Only a manager can confirm orders."))
    if order.status == "draft":
        raise OrderLocked(_l("Only a submitted order can be confirmed."))
    if order.status != "submitted":
        raise OrderLocked(LOCKED_MESSAGES[order.status])
    order.status = "confirmed"
    db.session.flush()
    record_activity(order.customer_id, "order", order.id, user_id=user.id,
                    summary=_summary(order), field="confirmed")
    db.session.flush()
    return order


def cancel_order(user: User, order: Order) -> Order:
    """draft or submitted → cancelled, by its rep, a manager or an admin; confirmed is final."""
    _lock(order)
    _require_change(user, order)
    if order.status not in ("draft", "submitted"):
        raise OrderLocked(LOCKED_MESSAGES[order.status])
    order.status = "cancelled"
    db.session.flush()
    record_activity(order.customer_id, "order", order.id, user_id=user.id,
                    summary=_summary(order), field="cancelled")
    db.session.flush()
    return order


TRANSITIONS = {"submitted": submit_order, "confirmed": confirm_order, "cancelled": cancel_order}


def set_status(user: User, order: Order, status) -> Order:
    """Move the order to ``status`` (the API's PATCH {"status": …}); the same status is a no-op
    for the order's current state, anything else goes through the transition's own rules."""
    value = clean(STATUS_FIELD, {"status": status}, partial=True, form=False)["status"]
    if value == order.status:
        return order
    if value == "draft":
        raise OrderLocked(LOCKED_MESSAGES[order.status])
    return TRANSITIONS[value](user, order)

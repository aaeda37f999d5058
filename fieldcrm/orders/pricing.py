"""Order arithmetic: pure Decimal functions, no database, no floats.

The rules, as on a German invoice, every rounding ROUND_HALF_UP to the cent:

1. **Line amount** = round(quantity × unit price × (1 − line discount / 100)).
2. **Order discount, per line.** Each line's net is
   round(line amount × (1 − order discount / 100)). The order discount shown on
   the confirmation is the sum of the line amounts minus the sum of the nets.
   Applying it per line (rather than once to the total) keeps the sum of the
   stored line nets equal to the order's net total, so revenue per product
   (ABC analysis, "what they buy most") adds up to the order revenue exactly.
   The price of that choice: with several lines the discount may differ by a
   few cents from one computed on the subtotal.
3. **VAT per rate group, rounded once per group.** For each VAT rate the nets
   of its lines are summed, and the VAT is round(group net × rate / 100): the
   "USt 19 % auf …, USt 7 % auf …" rows of the invoice. Rounding per line
   instead would let the rounding errors of many small lines add up.
   Each line also carries its share of its group's VAT (exact share rounded
   down, the remaining cents to the largest remainders, ties to the earlier
   line), so line VATs add up to the group VAT exactly.
4. **Totals**: net = Σ group nets, VAT = Σ group VATs, gross = net + VAT.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
# Enough digits for 100,000 × 9,999,999,999.99 × percentages without rounding by the context.
PRECISION = 60


def round_money(value: Decimal) -> Decimal:
    """``value`` rounded half up to whole cents (2.345 → 2.35, 2.344 → 2.34)."""
    with localcontext(prec=PRECISION):
        return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineInput:
    """What pricing needs of one line: the catalogue's price and rate, the rep's quantity and discount."""

    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    discount_pct: Decimal = Decimal(0)


@dataclass(frozen=True)
class PricedLine:
    """One line priced: ``amount`` after the line discount, ``net`` after the order discount."""

    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    discount_pct: Decimal
    amount: Decimal
    net: Decimal
    vat: Decimal


@dataclass(frozen=True)
class VatGroup:
    """The lines of one VAT rate: their net sum and the VAT on it."""

    rate: Decimal
    net: Decimal
    vat: Decimal


@dataclass(frozen=True)
class OrderPrice:
    """A priced order: its lines, the discount in money, the VAT rows and the totals."""

    lines: tuple[PricedLine, ...]
    discount_pct: Decimal
    subtotal: Decimal
    discount: Decimal
    vat_groups: tuple[VatGroup, ...]
    net: Decimal
    vat: Decimal
    gross: Decimal


def line_amount(quantity: Decimal, unit_price: Decimal, discount_pct: Decimal) -> Decimal:
    """round(quantity × unit price × (1 − discount / 100)) to the cent."""
    with localcontext(prec=PRECISION):
        return round_money(quantity * unit_price * (HUNDRED - discount_pct) / HUNDRED)


def _allocate(total: Decimal, exact_shares: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` (whole cents) into cent amounts close to ``exact_shares``.

    Each share is rounded down; the cents still missing go to the shares with
    the largest remainders, the earlier share first on a tie.
    """
    floors = [share.quantize(CENT, rounding=ROUND_DOWN) for share in exact_shares]
    missing = int((total - sum(floors, Decimal(0))) / CENT)
    by_remainder = sorted(range(len(floors)), key=lambda i: (-(exact_shares[i] - floors[i]), i))
    for index in by_remainder[:missing]:
        floors[index] += CENT
    return floors


def price_order(lines: Sequence[LineInput], discount_pct: Decimal = Decimal(0)) -> OrderPrice:
    """Price ``lines`` with an order discount of ``discount_pct`` percent (see the module rules).

    Quantities, prices and discounts must be non-negative; validation is the
    caller's job (``fieldcrm.orders.operations``).
    """
    with localcontext(prec=PRECISION):
        amounts = [line_amount(line.quantity, line.unit_price, line.discount_pct) for line in lines]
        nets = [round_money(amount * (HUNDRED - discount_pct) / HUNDRED) for amount in amounts]
        rates = sorted({line.vat_rate for line in lines}, reverse=True)
        vats = [Decimal("0.00")] * len(lines)
        groups = []
        for rate in rates:
            members = [i for i, line in enumerate(lines) if line.vat_rate == rate]
            group_net = sum((nets[i] for i in members), Decimal("0.00"))
            group_vat = round_money(group_net * rate / HUNDRED)
            shares = _allocate(group_vat, [nets[i] * rate / HUNDRED for i in members])
            for i, share in zip(members, shares, strict=True):
                vats[i] = share
            groups.append(VatGroup(rate=rate, net=group_net, vat=group_vat))
        priced = tuple(
            PricedLine(quantity=line.quantity, unit_price=line.unit_price, vat_rate=line.vat_rate,
                       discount_pct=line.discount_pct, amount=amount, net=net, vat=vat)
            for line, amount, net, vat in zip(lines, amounts, nets, vats, strict=True)
        )
        subtotal = sum(amounts, Decimal("0.00"))
        net_total = sum((group.net for group in groups), Decimal("0.00"))
        vat_total = sum((group.vat for group in groups), Decimal("0.00"))
        return OrderPrice(lines=priced, discount_pct=discount_pct, subtotal=subtotal,
                          discount=subtotal - net_total, vat_groups=tuple(groups),
                          net=net_total, vat=vat_total, gross=net_total + vat_total)

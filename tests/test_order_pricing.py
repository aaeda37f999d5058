"""Order arithmetic against hand-computed invoices (fieldcrm/orders/pricing.py; no database)."""

from decimal import Decimal as D

import pytest

from fieldcrm.orders.pricing import LineInput, line_amount, price_order, round_money


@pytest.mark.parametrize(("value", "expected"), [
    ("0.005", "0.01"),      # half up, where banker's rounding would give 0.00
    ("0.015", "0.02"),
    ("0.025", "0.03"),      # half-even would give 0.02
    ("2.344999", "2.34"),
    ("2.345", "2.35"),
    ("1.485", "1.49"),
    ("0", "0.00"),
    ("9999999999.994", "9999999999.99"),
])
def test_round_money_is_half_up_to_the_cent(value, expected):
    assert round_money(D(value)) == D(expected)
    assert str(round_money(D(value))) == expected


@pytest.mark.parametrize(("quantity", "price", "discount", "expected"), [
    ("3", "12.50", "10", "33.75"),       # 37.50 − 10 %
    ("1.5", "0.99", "0", "1.49"),        # 1.485 → 1.49 (half up)
    ("1", "0.01", "50", "0.01"),         # 0.005 → 0.01
    ("2.125", "3.99", "0", "8.48"),      # 8.47875, three decimals of quantity
    ("7", "3.33", "0", "23.31"),
    ("1", "19.99", "15", "16.99"),       # 16.9915
    ("0.001", "0.49", "0", "0.00"),      # 0.00049
])
def test_line_amount(quantity, price, discount, expected):
    assert line_amount(D(quantity), D(price), D(discount)) == D(expected)


def test_mixed_vat_with_line_and_order_discounts():
    """The worked example of the module docstring, by hand:

    Kaffee  3 × 12.50, −10 %, 7 %  → 33.75; −5 %: 32.0625 → 32.06
    Tassen  7 ×  3.33,         19 % → 23.31; −5 %: 22.1445 → 22.14
    Milch 1.5 ×  0.99,          7 % →  1.49; −5 %:  1.4155 →  1.42
    subtotal 58.55, net 55.62, discount 2.93
    VAT 19 % on 22.14 = 4.2066 → 4.21; VAT 7 % on 33.48 = 2.3436 → 2.34
    VAT 6.55, gross 62.17
    """
    price = price_order([
        LineInput(D("3"), D("12.50"), D("7.00"), D("10")),
        LineInput(D("7"), D("3.33"), D("19.00")),
        LineInput(D("1.5"), D("0.99"), D("7.00")),
    ], D("5"))
    assert [line.amount for line in price.lines] == [D("33.75"), D("23.31"), D("1.49")]
    assert [line.net for line in price.lines] == [D("32.06"), D("22.14"), D("1.42")]
    assert price.subtotal == D("58.55")
    assert price.discount == D("2.93")
    assert price.net == D("55.62")
    assert [(g.rate, g.net, g.vat) for g in price.vat_groups] == [
        (D("19"), D("22.14"), D("4.21")), (D("7"), D("33.48"), D("2.34"))]
    assert price.vat == D("6.55")
    assert price.gross == D("62.17")
    # line VAT shares: 22.14 × 19 % = 4.2066 → 4.21; 7 %: 2.2442 and 0.0994 floor to
    # 2.24 + 0.09 = 2.33, the missing cent goes to the larger remainder (0.0994)
    assert [line.vat for line in price.lines] == [D("2.24"), D("4.21"), D("0.10")]


def test_vat_is_rounded_once_per_rate_not_per_line():
    """Three lines of 1.05 at 7 %: 0.0735 each; per line that would be 3 × 0.07 = 0.21,
    but the invoice's VAT on 3.15 is 0.2205 → 0.22."""
    price = price_order([LineInput(D("1"), D("1.05"), D("7"))] * 3)
    assert price.vat == D("0.22")
    assert price.gross == D("3.37")
    assert [line.vat for line in price.lines] == [D("0.08"), D("0.07"), D("0.07")]
    assert sum(line.vat for line in price.lines) == price.vat


def test_order_discount_is_applied_per_line_so_line_nets_add_up_to_the_net_total():
    """Two lines of 0.10 with 5 % order discount: 0.095 → 0.10 each, net 0.20.
    (5 % of the subtotal 0.20 would be 0.01; per line it rounds to 0.00 twice.)"""
    price = price_order([LineInput(D("1"), D("0.10"), D("19"))] * 2, D("5"))
    assert [line.net for line in price.lines] == [D("0.10"), D("0.10")]
    assert price.net == D("0.20")
    assert price.discount == D("0.00")
    assert sum(line.net for line in price.lines) == price.net


def test_line_discount_then_order_discount_round_each_step():
    """1 × 19.99 −15 % = 16.9915 → 16.99; then −2.5 %: 16.565250 → 16.57; 19 %: 3.1483 → 3.15."""
    price = price_order([LineInput(D("1"), D("19.99"), D("19"), D("15"))], D("2.5"))
    assert price.lines[0].amount == D("16.99")
    assert price.net == D("16.57")
    assert price.vat == D("3.15")
    assert price.gross == D("19.72")


def test_large_quantities_stay_exact():
    """100,000 × 9,999.99 at 19 %: no float, no context rounding."""
    price = price_order([LineInput(D("100000"), D("9999.99"), D("19"))])
    assert price.net == D("999999000.00")
    assert price.vat == D("189999810.00")
    assert price.gross == D("1189998810.00")


def test_large_quantity_with_fraction_and_discount():
    """99,999.999 × 1,234.57 = 123,456,998.76543 −7.5 % = 114,197,723.858 → 114,197,723.86;
    7 %: 7,993,840.6702 → 7,993,840.67."""
    price = price_order([LineInput(D("99999.999"), D("1234.57"), D("7"), D("7.5"))])
    assert price.net == D("114197723.86")
    assert price.vat == D("7993840.67")
    assert price.gross == D("122191564.53")


def test_empty_order_and_zero_rate():
    assert price_order([]).gross == D("0.00")
    price = price_order([LineInput(D("2"), D("5.00"), D("0"))])
    assert (price.net, price.vat, price.gross) == (D("10.00"), D("0.00"), D("10.00"))


def test_full_discount_is_zero():
    price = price_order([LineInput(D("3"), D("4.00"), D("19"), D("100"))])
    assert price.gross == D("0.00")

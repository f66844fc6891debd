"""Exact fixed-point numbers, Instrument units and rounding, and instrument rules from Bybit's REST fixtures.

Expected rules are worked out by hand from each fixture's raw fields (tickSize, priceScale, qtyStep,
basePrecision, minOrderQty, maxOrderQty, maxMktOrderQty / maxMarketOrderQty, minNotionalValue /
minOrderAmt), not recomputed by the parser.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.instrument import Instrument
from engine.numbers import (
    FixedMemo,
    FixedMemos,
    ScaleError,
    format_fixed,
    from_decimal,
    parse_fixed,
    parse_fixed_fast,
    to_decimal,
)
from feeds.bybit.instruments import InstrumentsError, load_instruments, parse_instruments_info

# -- parse_fixed -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("95000.10", 2, 9500010),
        ("0.001", 3, 1),
        ("5", 0, 5),
        ("5", 3, 5000),
        ("1.5", 2, 150),
        ("-1.25", 2, -125),
        ("-0", 2, 0),
        ("0.00", 2, 0),
        ("007.50", 2, 750),
        ("123456789012345678901234567890.123456789", 9, 123456789012345678901234567890123456789),
        # trailing zeros beyond the scale are exact, so fine
        ("1.500", 1, 15),
        ("2.000", 0, 2),
        ("-3.10", 1, -31),
        ("0.0100000", 2, 1),
    ],
)
def test_parse_fixed_is_exact(text: str, scale: int, expected: int) -> None:
    """A plain decimal string becomes the exact integer count of 10**-scale units."""
    assert parse_fixed(text, scale) == expected


@pytest.mark.parametrize(("text", "scale"), [("1.25", 1), ("0.0001", 3), ("1.5", 0), ("-0.001", 2), ("1.01", 1)])
def test_parse_fixed_refuses_significant_decimals_beyond_the_scale(text: str, scale: int) -> None:
    """Rounding would be silent data loss: a digit beyond the scale is a ScaleError."""
    with pytest.raises(ScaleError, match="decimals"):
        parse_fixed(text, scale)


NOT_PLAIN_DECIMALS = [
    "1e5",
    "1E5",
    "1.5e-3",
    " 1",
    "1 ",
    "+1",
    "",
    "-",
    ".",
    "-.",
    ".5",
    "1.2.3",
    "--1",
    "1,5",
    "1_000",
    "0x10",
    "nan",
    "inf",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: str.isdigit() says yes
    "1.\u0665",  # ARABIC-INDIC DIGIT FIVE in the fraction
    "\u00b2",  # SUPERSCRIPT TWO
]


@pytest.mark.parametrize("text", NOT_PLAIN_DECIMALS)
def test_parse_fixed_rejects_anything_but_a_plain_decimal(text: str) -> None:
    """Exponents, signs other than a leading minus, spaces, junk and non-ASCII digits are refused."""
    for scale in (0, 2, 8):
        with pytest.raises(ScaleError):
            parse_fixed(text, scale)


@pytest.mark.parametrize("value", [5, 1.5, None, b"1", Decimal(1), ["1"]])
def test_parse_fixed_rejects_non_strings(value: object) -> None:
    """Only str is accepted, not even a Decimal or bytes."""
    with pytest.raises(ScaleError, match="expected a decimal string"):
        parse_fixed(cast(Any, value), 2)


# -- parse_fixed_fast ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("95000.10", 2, 9500010),  # the venue spelling: the fast path
        ("0.001", 3, 1),
        ("5", 0, 5),
        ("95000.1", 2, 9500010),  # anything else: the general parser
        ("95000", 2, 9500000),
        ("95000.100", 2, 9500010),
        ("-1.25", 2, -125),
    ],
)
def test_parse_fixed_fast_values(text: str, scale: int, expected: int) -> None:
    """The fast parser gives parse_fixed's exact value on every spelling."""
    assert parse_fixed_fast(text, scale) == expected


def test_parse_fixed_fast_rejects_what_parse_fixed_rejects() -> None:
    """Speed must not loosen validation: every string parse_fixed refuses, the fast parser refuses."""
    accepted = []
    for text in [*NOT_PLAIN_DECIMALS, "0.0001"]:
        for scale in range(4):
            with pytest.raises(ScaleError):
                parse_fixed(text, scale)
            try:
                value = parse_fixed_fast(text, scale)
            except ScaleError:
                continue
            accepted.append((text, scale, value))
    assert accepted == []


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**15), 10**15), st.integers(0, 10), st.integers(0, 3))
def test_parse_fixed_fast_agrees_with_parse_fixed(value: int, scale: int, extra_zeros: int) -> None:
    """On formatted numbers, with or without extra trailing zeros, both parsers agree."""
    text = format_fixed(value, scale)
    if scale and extra_zeros:
        text += "0" * extra_zeros
    assert parse_fixed_fast(text, scale) == parse_fixed(text, scale) == value


# -- format_fixed, to_decimal, from_decimal ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "scale", "text"),
    [
        (9500010, 2, "95000.10"),
        (-5, 2, "-0.05"),
        (-125, 2, "-1.25"),
        (0, 2, "0.00"),
        (0, 0, "0"),
        (-7, 0, "-7"),
        (123, 0, "123"),
        (1, 8, "0.00000001"),
    ],
)
def test_format_fixed(value: int, scale: int, text: str) -> None:
    """Exactly ``scale`` decimals, a minus only for negative values."""
    assert format_fixed(value, scale) == text
    assert parse_fixed(text, scale) == value


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**20), 10**20), st.integers(0, 12))
def test_format_parse_round_trip(value: int, scale: int) -> None:
    """parse_fixed(format_fixed(v, s), s) == v, and to/from Decimal round-trips too."""
    assert parse_fixed(format_fixed(value, scale), scale) == value
    assert from_decimal(to_decimal(value, scale), scale) == value
    if scale <= 6:  # beyond, str(Decimal) switches to exponent notation ("5E-7")
        assert str(to_decimal(value, scale)) == format_fixed(value, scale)


def test_to_decimal_is_exact() -> None:
    """The integer as a Decimal with the scale's exponent."""
    assert str(to_decimal(9500010, 2)) == "95000.10"
    assert str(to_decimal(-5, 3)) == "-0.005"
    assert str(to_decimal(0, 2)) == "0.00"
    assert str(to_decimal(5, 0)) == "5"


@pytest.mark.parametrize(
    ("value", "scale", "expected"),
    [
        (Decimal("95000.1"), 2, 9500010),
        (Decimal("1E+3"), 0, 1000),
        (Decimal("-0.5"), 1, -5),
        (Decimal("1.230"), 2, 123),
        (Decimal(0), 5, 0),
    ],
)
def test_from_decimal(value: Decimal, scale: int, expected: int) -> None:
    """Exact integer of a Decimal at a scale."""
    assert from_decimal(value, scale) == expected


@pytest.mark.parametrize("value", [Decimal("1.234"), Decimal("NaN"), Decimal("sNaN"), Decimal("-1E-9")])
def test_from_decimal_rejects_finer_or_non_numbers(value: Decimal) -> None:
    """More decimals than the scale, or not a number at all: ScaleError."""
    with pytest.raises(ScaleError):
        from_decimal(value, 2)


@pytest.mark.parametrize("value", [Decimal("Infinity"), Decimal("-Infinity")], ids=["+inf", "-inf"])
def test_from_decimal_rejects_infinity(value: Decimal) -> None:
    """An infinite Decimal is not a number of ticks: ScaleError, like NaN (not OverflowError)."""
    with pytest.raises(ScaleError):
        from_decimal(value, 2)


# -- memos -----------------------------------------------------------------------------------------


def test_fixed_memo_converts_and_remembers() -> None:
    """get() converts once and then answers from ``values``; the sign is applied to the result."""
    memo = FixedMemo(2)
    assert memo.get("1.50") == 150
    assert memo.values == {"1.50": 150}
    assert memo.get("1.5") == 150
    assert memo.values == {"1.50": 150, "1.5": 150}
    memo.values["planted"] = 7  # a hit never re-parses
    assert memo.get("planted") == 7

    bids = FixedMemo(1, sign=-1)
    assert bids.get("100.5") == -1005
    assert bids.values == {"100.5": -1005}


def test_fixed_memo_is_cleared_when_full() -> None:
    """At ``limit`` entries the memo starts again, so memory stays bounded."""
    memo = FixedMemo(0, limit=2)
    memo.get("1")
    memo.get("2")
    assert memo.get("1") == 1  # a hit does not grow it
    assert len(memo.values) == 2
    assert memo.get("3") == 3
    assert memo.values == {"3": 3}


def test_fixed_memo_validates_and_remembers_no_failure() -> None:
    """Bad strings, non-strings and values under the minimum raise and are not memoised."""
    prices = FixedMemo(1, minimum=1)
    for bad in ("0", "0.0", "-1", "1.25", "abc"):
        with pytest.raises(ScaleError):
            prices.get(bad)
    with pytest.raises(ScaleError, match="expected a decimal string"):
        prices.get(cast(Any, None))
    assert prices.values == {}
    sizes = FixedMemo(3)
    assert sizes.get("0") == 0
    with pytest.raises(ScaleError):
        sizes.get("-0.001")


def test_fixed_memos_are_shared_per_scale_and_sign() -> None:
    """One memo per (kind, scale, sign): equal scales share, prices refuse zero, sizes accept it."""
    memos = FixedMemos()
    assert memos.prices(2, -1) is memos.prices(2, -1)
    assert memos.prices(2, 1) is not memos.prices(2, -1)
    assert memos.prices(3, 1) is not memos.prices(2, 1)
    assert memos.sizes(3) is memos.sizes(3)
    assert memos.sizes(2) is not memos.prices(2, 1)
    assert memos.prices(2, -1).get("100.25") == -10025
    with pytest.raises(ScaleError):
        memos.prices(2, 1).get("0")
    assert memos.sizes(2).get("0") == 0


# -- Instrument ------------------------------------------------------------------------------------

BTC_RULES = Instrument(symbol="BTCUSDT", price_scale=2, qty_scale=3, price_step_ticks=10, qty_step_lots=5)


def test_instrument_conversions() -> None:
    """Ticks and lots to strings and Decimals and back, exactly."""
    assert BTC_RULES.format_price(9500010) == "95000.10"
    assert BTC_RULES.format_qty(1) == "0.001"
    assert str(BTC_RULES.price_decimal(9500010)) == "95000.10"
    assert str(BTC_RULES.qty_decimal(1500)) == "1.500"
    assert BTC_RULES.ticks("95000.1") == 9500010
    assert BTC_RULES.ticks(Decimal("0.01")) == 1
    assert BTC_RULES.lots("1.5") == 1500
    with pytest.raises(ScaleError):
        BTC_RULES.ticks("95000.001")
    with pytest.raises(ScaleError):
        BTC_RULES.lots(Decimal("0.0001"))


def test_price_rounding_to_the_step() -> None:
    """Floor never rounds a buy cap up; ceil never rounds a sell floor down (step of 10 ticks)."""
    assert BTC_RULES.price_floor(9500015) == 9500010
    assert BTC_RULES.price_floor(9500019) == 9500010
    assert BTC_RULES.price_floor(9500010) == 9500010
    assert BTC_RULES.price_floor(9) == 0
    assert BTC_RULES.price_ceil(9500011) == 9500020
    assert BTC_RULES.price_ceil(9500010) == 9500010
    assert BTC_RULES.price_ceil(1) == 10
    assert BTC_RULES.price_ceil(0) == 0


def test_qty_floor_and_notional() -> None:
    """Quantities floor to the step; notional is exact price * qty."""
    assert BTC_RULES.qty_floor(1234) == 1230
    assert BTC_RULES.qty_floor(5) == 5
    assert BTC_RULES.qty_floor(4) == 0
    notional = BTC_RULES.notional(9500010, 1234)  # 95000.10 * 1.234
    assert notional == Decimal("117230.1234")
    assert str(notional) == "117230.12340"
    assert BTC_RULES.notional(1, 1) == Decimal("0.00001")


def test_instrument_validates_scales_and_steps() -> None:
    """Negative scales and non-positive steps are refused."""
    with pytest.raises(ValueError, match="scales"):
        Instrument(symbol="X", price_scale=-1, qty_scale=0)
    with pytest.raises(ValueError, match="steps"):
        Instrument(symbol="X", price_scale=1, qty_scale=0, price_step_ticks=0)
    with pytest.raises(ValueError, match="steps"):
        Instrument(symbol="X", price_scale=1, qty_scale=0, qty_step_lots=-1)


def test_inferred_from_levels_takes_the_written_decimals() -> None:
    """The widest price and size as the venue writes them (trailing zeros count); unit steps."""
    inferred = Instrument.inferred_from_levels("XRPUSDT", [("0.5012", "100"), ("0.50", "2.5"), ("1", "0.10")])
    assert inferred == Instrument(symbol="XRPUSDT", price_scale=4, qty_scale=2, inferred=True)
    assert (inferred.price_step_ticks, inferred.qty_step_lots, inferred.min_qty_lots) == (1, 1, 0)
    assert Instrument.inferred_from_levels("X", []) == Instrument(symbol="X", price_scale=0, qty_scale=0, inferred=True)


def test_widened_for_never_narrows() -> None:
    """Scales only grow, each on its own; an instrument that already fits comes back as itself."""
    base = Instrument(symbol="X", price_scale=2, qty_scale=3, inferred=True)
    assert base.widened_for([("1.5", "2"), ("1.25", "0.125")]) is base
    assert base.widened_for([]) is base
    wider = base.widened_for([("1.505", "1")])
    assert (wider.price_scale, wider.qty_scale) == (3, 3)
    assert wider.inferred and wider.symbol == "X"
    assert base.widened_for([("1", "0.00001")]) == Instrument(symbol="X", price_scale=2, qty_scale=5, inferred=True)


def test_widened_for_keeps_the_value_of_step_and_size_rules() -> None:
    """Rules counted in ticks and lots are rescaled with the units, so they keep their meaning.

    tickSize 0.5 at price_scale 1 is 5 ticks; at price_scale 2 it must be 50 ticks, not 5.
    """
    rules = Instrument(
        symbol="X",
        price_scale=1,
        qty_scale=3,
        price_step_ticks=5,
        qty_step_lots=1,
        min_qty_lots=1,
        max_qty_lots=100_000,
    )
    wider = rules.widened_for([("100.05", "0.0001")])
    assert (wider.price_scale, wider.qty_scale) == (2, 4)
    assert wider.price_decimal(wider.price_step_ticks) == Decimal("0.5")
    assert wider.qty_decimal(wider.qty_step_lots) == Decimal("0.001")
    assert wider.qty_decimal(wider.min_qty_lots) == Decimal("0.001")
    assert wider.max_qty_lots is not None
    assert wider.qty_decimal(wider.max_qty_lots) == Decimal(100)


# -- instruments-info fixtures ---------------------------------------------------------------------

REST = Path(__file__).resolve().parent / "fixtures" / "bybit" / "rest"
INSTRUMENT_FILES = sorted(p.relative_to(REST).as_posix() for p in REST.rglob("*") if "instrument" in p.name)


def _linear(symbol: str, **rules: Any) -> Instrument:
    return Instrument(symbol=symbol, category="linear", **rules)


BTCUSDT_LEGACY = _linear(
    "BTCUSDT",
    price_scale=2,  # priceScale 2; tickSize 0.10
    qty_scale=3,  # qtyStep 0.001
    price_step_ticks=10,
    min_qty_lots=1,  # 0.001
    max_qty_lots=100_000,  # 100.000
    max_market_qty_lots=500_000,  # 500.000
    min_notional=Decimal(5),
)
ETHUSDT_LEGACY = _linear(
    "ETHUSDT",
    price_scale=2,  # tickSize 0.01
    qty_scale=2,  # qtyStep 0.01 (maxMktOrderQty "500.000" has no significant decimals)
    min_qty_lots=1,
    max_qty_lots=150_000,  # 1500.00
    max_market_qty_lots=50_000,  # 500.000
    min_notional=Decimal(5),
)


def _legacy_option(symbol: str) -> Instrument:
    return Instrument(
        symbol=symbol,
        category="option",  # told from optionsType
        price_scale=0,  # tickSize 5, no priceScale
        qty_scale=2,  # qtyStep 0.01
        price_step_ticks=5,
        min_qty_lots=1,
        max_qty_lots=1_000_000,  # 10000
    )


EXPECTED: dict[str, dict[str, Instrument]] = {
    "bybit_docs/market_instrument__response_option.json": {
        "BTC-27MAR26-70000-P-USDT": Instrument(
            symbol="BTC-27MAR26-70000-P-USDT",
            category="option",
            price_scale=0,  # tickSize 5
            qty_scale=2,  # qtyStep 0.01
            price_step_ticks=5,
            min_qty_lots=1,  # 0.01
            max_qty_lots=50_000,  # 500
        ),
    },
    "bybit_docs/market_instrument__response_spot.json": {
        "BTCUSDT": Instrument(
            symbol="BTCUSDT",
            category="spot",
            price_scale=1,  # tickSize 0.1
            qty_scale=6,  # basePrecision 0.000001
            min_qty_lots=0,  # minOrderQty is no longer checked on spot
            max_qty_lots=83_000_000,  # maxLimitOrderQty 83
            max_market_qty_lots=41_500_000,  # maxMarketOrderQty 41.5
            min_notional=Decimal(5),  # minOrderAmt
        ),
    },
    "nautilus_trader/http_get_instruments_inverse.json": {
        "BTCUSD": Instrument(
            symbol="BTCUSD",
            category="inverse",  # told from contractType InversePerpetual
            price_scale=1,  # priceScale 1; tickSize 0.5
            qty_scale=0,  # qtyStep 1
            price_step_ticks=5,
            min_qty_lots=1,
            max_qty_lots=1_000_000,
            max_market_qty_lots=500_000,
        ),
    },
    "nautilus_trader/http_get_instruments_inverse_symbol_type.json": {
        "BRENTUSD": Instrument(
            symbol="BRENTUSD",
            category="inverse",
            price_scale=2,
            qty_scale=3,
            min_qty_lots=1,
            max_qty_lots=100_000,  # 100
            min_notional=Decimal(1),
        ),
    },
    "nautilus_trader/http_get_instruments_linear.json": {
        "BTCUSDT": _linear(
            "BTCUSDT",
            price_scale=2,  # priceScale 2; tickSize 0.5
            qty_scale=3,  # qtyStep 0.001
            price_step_ticks=50,
            min_qty_lots=1,
            max_qty_lots=100_000,  # 100.0
            max_market_qty_lots=50_000,  # 50.0
            min_notional=Decimal(5),
        ),
        "ETHUSDT": _linear(
            "ETHUSDT",
            price_scale=2,  # tickSize 0.05
            qty_scale=2,  # qtyStep 0.01
            price_step_ticks=5,
            min_qty_lots=1,
            max_qty_lots=100_000,  # 1000.0
            max_market_qty_lots=50_000,  # 500.0
            min_notional=Decimal(5),
        ),
    },
    "nautilus_trader/http_get_instruments_linear_symbol_type.json": {
        "TSLAUSDT": _linear(
            "TSLAUSDT",
            price_scale=2,
            qty_scale=3,
            min_qty_lots=1,
            max_qty_lots=100_000,
            min_notional=Decimal(1),
        ),
    },
    "nautilus_trader/http_get_instruments_option.json": {
        "ETH-26JUN26-16000-P": Instrument(
            symbol="ETH-26JUN26-16000-P",
            category="option",  # told from optionsType
            price_scale=1,  # tickSize 0.1
            qty_scale=0,  # qtyStep 1
            min_qty_lots=1,
            max_qty_lots=100,
        ),
    },
    "nautilus_trader/http_get_instruments_option_symbol_id.json": {
        "BTC-30JUN25-100000-C": Instrument(
            symbol="BTC-30JUN25-100000-C",
            category="option",
            price_scale=0,
            qty_scale=2,
            price_step_ticks=5,
            min_qty_lots=1,
            max_qty_lots=150_000,  # 1500
        ),
    },
    "nautilus_trader/http_get_instruments_spot.json": {
        "BTCUSDT": Instrument(
            symbol="BTCUSDT",
            category="spot",  # told from basePrecision
            price_scale=1,  # tickSize 0.1
            qty_scale=4,  # basePrecision 0.0001
            max_qty_lots=1_000_000,  # maxOrderQty 100.0 (no maxLimitOrderQty)
            min_notional=Decimal(10),
        ),
        "ETHUSDT": Instrument(
            symbol="ETHUSDT",
            category="spot",
            price_scale=2,
            qty_scale=5,  # basePrecision 0.00001
            max_qty_lots=100_000_000,  # 1000.0
            min_notional=Decimal(10),
        ),
    },
    "nautilus_trader/http_get_instruments_spot_xstocks.json": {
        "AAPLUSDT": Instrument(
            symbol="AAPLUSDT",
            category="spot",
            price_scale=2,
            qty_scale=4,
            max_qty_lots=1_000_000,  # 100.0
            min_notional=Decimal(10),
        ),
    },
    "nautilus_trader_legacy_py/http_market_instruments_linear.json": {  # a bare list of items
        "BTCUSDT": _linear(
            "BTCUSDT", price_scale=2, qty_scale=3, price_step_ticks=10, min_qty_lots=1, max_qty_lots=100_000
        ),
        "ETHUSDT": _linear("ETHUSDT", price_scale=2, qty_scale=2, min_qty_lots=1, max_qty_lots=150_000),
    },
    "nautilus_trader_legacy_py/linear/instrument_btc_usdt.json": {"BTCUSDT": BTCUSDT_LEGACY},
    "nautilus_trader_legacy_py/linear/instruments.json": {
        "BTCUSDT": BTCUSDT_LEGACY,
        "ETHUSDT": ETHUSDT_LEGACY,
    },
    "nautilus_trader_legacy_py/option/instruments.json": {
        "BTC-29MAR24-100000-C": _legacy_option("BTC-29MAR24-100000-C"),
        "BTC-29MAR24-100000-P": _legacy_option("BTC-29MAR24-100000-P"),
    },
    "nautilus_trader_legacy_py/spot/instruments.json": {
        "BTCUSDT": Instrument(
            symbol="BTCUSDT",
            category="spot",
            price_scale=2,
            qty_scale=6,  # basePrecision 0.000001
            max_qty_lots=399_999_200,  # maxOrderQty 399.9992
            min_notional=Decimal(1),
        ),
        "ETHUSDT": Instrument(
            symbol="ETHUSDT",
            category="spot",
            price_scale=2,
            qty_scale=7,  # maxOrderQty 2430.7243559 is finer than basePrecision 0.00001
            qty_step_lots=100,  # 0.00001 in units of 10**-7
            max_qty_lots=24_307_243_559,
            min_notional=Decimal(1),
        ),
    },
}


def test_every_instruments_fixture_has_expectations() -> None:
    """A new instruments fixture must get hand-written expectations here."""
    assert sorted(EXPECTED) == INSTRUMENT_FILES


@pytest.mark.parametrize("name", INSTRUMENT_FILES)
def test_instruments_fixture(name: str) -> None:
    """Every rule of every symbol, exactly (min_notional compared with its exponent)."""
    loaded = load_instruments(REST / name)
    expected = EXPECTED[name]
    assert loaded == expected
    for symbol, instrument in loaded.items():
        assert not instrument.inferred
        assert str(instrument.min_notional) == str(expected[symbol].min_notional)


def test_linear_btcusdt_rules_in_units() -> None:
    """nautilus linear BTCUSDT read back in venue units: tick 0.5, step 0.001, min notional 5."""
    btc = load_instruments(REST / "nautilus_trader/http_get_instruments_linear.json")["BTCUSDT"]
    assert btc.price_decimal(btc.price_step_ticks) == Decimal("0.5")
    assert btc.qty_decimal(btc.qty_step_lots) == Decimal("0.001")
    assert btc.price_floor(btc.ticks("95000.37")) == btc.ticks("95000")
    assert btc.price_ceil(btc.ticks("95000.37")) == btc.ticks("95000.5")
    assert btc.notional(btc.ticks("95000.5"), btc.lots("0.001")) == Decimal("95.0005")


def test_pages_in_one_file_are_merged(tmp_path: Path) -> None:
    """A saved list of response pages yields the instruments of every page."""
    linear = (REST / "nautilus_trader/http_get_instruments_linear.json").read_text()
    inverse = (REST / "nautilus_trader/http_get_instruments_inverse.json").read_text()
    pages = tmp_path / "pages.json"
    pages.write_text(f"[{linear}, {inverse}]")
    assert sorted(load_instruments(pages)) == ["BTCUSD", "BTCUSDT", "ETHUSDT"]


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    """Unreadable files raise InstrumentsError, not a decoder's own exception."""
    path = tmp_path / "broken.json"
    path.write_text('{"retCode": 0, ')
    with pytest.raises(InstrumentsError, match="not JSON"):
        load_instruments(path)


@pytest.mark.parametrize(
    "response",
    [
        {"retCode": 10001, "retMsg": "params error", "result": {}},
        {"retCode": "10001", "retMsg": "params error", "result": {"list": []}},
        {"retCode": 0, "result": {}},
        {"retCode": 0, "result": {"list": {}}},
        {"retCode": 0, "result": None},
    ],
    ids=["error code", "error code as string", "no list", "list not a list", "no result"],
)
def test_unsuccessful_or_shapeless_response_is_refused(response: dict[str, Any]) -> None:
    """Anything but a successful page with result.list raises InstrumentsError."""
    with pytest.raises(InstrumentsError):
        parse_instruments_info(response)


def test_non_mapping_response_is_refused() -> None:
    """A JSON array or string is not a response page."""
    responses: list[object] = [[], "OK"]
    for response in responses:
        with pytest.raises(InstrumentsError):
            parse_instruments_info(cast(Any, response))


GOOD_ITEM: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "contractType": "LinearPerpetual",
    "priceScale": "2",
    "priceFilter": {"minPrice": "0.10", "maxPrice": "199999.80", "tickSize": "0.10"},
    "lotSizeFilter": {"maxOrderQty": "100.000", "minOrderQty": "0.001", "qtyStep": "0.001"},
}


def _page(*items: object, category: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"list": list(items)}
    if category is not None:
        result["category"] = category
    return {"retCode": 0, "retMsg": "OK", "result": result}


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD_ITEM.items() if k != key}


def _with_lots(**lots: Any) -> dict[str, Any]:
    return {**GOOD_ITEM, "lotSizeFilter": {**GOOD_ITEM["lotSizeFilter"], **lots}}


def _with_prices(**prices: Any) -> dict[str, Any]:
    return {**GOOD_ITEM, "priceFilter": {**GOOD_ITEM["priceFilter"], **prices}}


MALFORMED_ITEMS: dict[str, dict[str, Any]] = {
    "no priceFilter": _without("priceFilter"),
    "no lotSizeFilter": _without("lotSizeFilter"),
    "no symbol": _without("symbol"),
    "no tickSize": {**GOOD_ITEM, "priceFilter": {"minPrice": "0.10"}},
    "tickSize not a number": _with_prices(tickSize="abc"),
    "tickSize null": _with_prices(tickSize=None),
    "qtyStep zero": _with_lots(qtyStep="0"),
    "qtyStep with exponent": _with_lots(qtyStep="1e-3"),
    "priceScale not a number": {**GOOD_ITEM, "priceScale": "two"},
    "unknown category": {k: v for k, v in GOOD_ITEM.items() if k != "contractType"},
}


def test_the_good_item_is_good() -> None:
    """The base of the malformed items below parses."""
    assert parse_instruments_info(_page(GOOD_ITEM))["BTCUSDT"].price_step_ticks == 10


@pytest.mark.parametrize("item", MALFORMED_ITEMS.values(), ids=MALFORMED_ITEMS.keys())
def test_malformed_item_raises_instruments_error(item: dict[str, Any]) -> None:
    """An item whose rules cannot be read raises InstrumentsError naming the symbol."""
    with pytest.raises(InstrumentsError, match="unreadable rules for"):
        parse_instruments_info(_page(GOOD_ITEM, item))


@pytest.mark.parametrize(
    "page",
    [_page("BTCUSDT"), _page(None, category="linear"), _page({**GOOD_ITEM, "contractType": None})],
    ids=["string item", "null item", "null contractType"],
)
def test_non_object_item_raises_instruments_error(page: dict[str, Any]) -> None:
    """An item that is not an object (or a null field) is unreadable rules, not an AttributeError."""
    with pytest.raises(InstrumentsError):
        parse_instruments_info(page)

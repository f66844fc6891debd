"""Instrument rules from Bybit's ``GET /v5/market/instruments-info`` response.

Spot and derivatives use different shapes (spot has ``basePrecision`` and ``minOrderAmt``;
derivatives ``qtyStep``, ``minNotionalValue`` and ``maxMktOrderQty``), so each gets its own
reader. Scales are chosen wide enough for every number the venue quotes for the symbol, and
every rule becomes an exact integer of ticks or lots. A response may omit ``category`` (some
recorded ones do); it is then told from the item's own fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from engine.instrument import Instrument
from engine.numbers import decimals_of, parse_fixed

__all__ = ["InstrumentsError", "parse_instruments_info", "load_instruments"]


class InstrumentsError(ValueError):
    """The document is not an instruments-info response, or an item's rules are unreadable."""


def load_instruments(path: str | Path) -> dict[str, Instrument]:
    """Instruments from a saved instruments-info response (one page, or a list of pages)."""
    try:
        document = msgspec.json.decode(Path(path).read_bytes())
    except msgspec.DecodeError as exc:
        raise InstrumentsError(f"{path}: not JSON: {exc}") from exc
    if isinstance(document, list) and document and isinstance(document[0], dict) and "priceFilter" in document[0]:
        document = {"result": {"list": document}}  # a bare list of items, as some tools save it
    pages = document if isinstance(document, list) else [document]
    instruments: dict[str, Instrument] = {}
    for page in pages:
        instruments.update(parse_instruments_info(page))
    return instruments


def parse_instruments_info(response: Mapping[str, Any]) -> dict[str, Instrument]:
    """Symbol -> Instrument for every item of one response page."""
    if not isinstance(response, Mapping) or response.get("retCode", 0) not in (0, "0"):
        raise InstrumentsError(f"not a successful instruments-info response: {str(response)[:120]}")
    result = response.get("result")
    if not isinstance(result, Mapping) or not isinstance(result.get("list"), list):
        raise InstrumentsError("instruments-info response without result.list")
    category = result.get("category") or None
    instruments = {}
    for item in result["list"]:
        if not isinstance(item, Mapping):
            raise InstrumentsError(f"an instruments-info item is not an object: {item!r}")
        try:
            instrument = _instrument(item, category or _category_of(item))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InstrumentsError(f"unreadable rules for {item.get('symbol', '?')!r}: {exc}") from exc
        instruments[instrument.symbol] = instrument
    return instruments


def _category_of(item: Mapping[str, Any]) -> str:
    contract = item.get("contractType") or ""
    if contract.startswith("Linear"):
        return "linear"
    if contract.startswith("Inverse"):
        return "inverse"
    if "optionsType" in item:
        return "option"
    if "basePrecision" in item.get("lotSizeFilter", {}):
        return "spot"
    raise InstrumentsError(f"cannot tell the category of {item.get('symbol', '?')!r}")


def _instrument(item: Mapping[str, Any], category: str) -> Instrument:
    prices = item["priceFilter"]
    lots = item["lotSizeFilter"]
    tick_size = prices["tickSize"]
    if category == "spot":
        # minOrderQty is deprecated and no longer checked on spot; minOrderAmt is what binds.
        qty_step = lots["basePrecision"]
        max_limit = lots.get("maxLimitOrderQty") or lots.get("maxOrderQty")
        max_market = lots.get("maxMarketOrderQty")
        min_qty, min_notional = "0", lots.get("minOrderAmt") or "0"
    else:
        qty_step = lots["qtyStep"]
        max_limit, max_market = lots.get("maxOrderQty"), lots.get("maxMktOrderQty")
        min_qty, min_notional = lots.get("minOrderQty") or "0", lots.get("minNotionalValue") or "0"
    price_texts = [tick_size, prices.get("minPrice"), prices.get("maxPrice")]
    price_scale = max([int(item.get("priceScale") or 0)] + [decimals_of(text) for text in price_texts if text])
    qty_texts = [qty_step, min_qty, max_limit, max_market]
    qty_scale = max(decimals_of(text) for text in qty_texts if text)
    return Instrument(
        symbol=item["symbol"],
        category=category,
        price_scale=price_scale,
        qty_scale=qty_scale,
        price_step_ticks=parse_fixed(tick_size, price_scale),
        qty_step_lots=parse_fixed(qty_step, qty_scale),
        min_qty_lots=parse_fixed(min_qty, qty_scale),
        max_qty_lots=parse_fixed(max_limit, qty_scale) if max_limit else None,
        max_market_qty_lots=parse_fixed(max_market, qty_scale) if max_market else None,
        min_notional=Decimal(min_notional),
    )

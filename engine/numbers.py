"""Exact fixed-point numbers: the only bridge between Bybit's decimal strings and engine integers.

Bybit prints every price and size as a decimal string. The engine keeps them as integers in a
per-instrument fixed-point scale (a price of ``"95000.10"`` at scale 2 is ``9500010``), so book
keys hash fast, compare exactly and never meet a float. Conversion is strict: a string with more
significant decimals than the scale is an error, never a silent rounding.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = [
    "ScaleError",
    "decimals_of",
    "format_fixed",
    "parse_fixed",
    "to_decimal",
    "from_decimal",
    "FixedCache",
]

_POW10: tuple[int, ...] = tuple(10**k for k in range(40))


class ScaleError(ValueError):
    """A number does not fit the fixed-point scale it was meant for (or is not a number)."""


def decimals_of(text: str) -> int:
    """Number of significant decimals in a decimal string ("1.2300" -> 2, "5" -> 0)."""
    _, dot, frac = text.partition(".")
    return len(frac.rstrip("0")) if dot else 0


def parse_fixed(text: str, scale: int) -> int:
    """Exact value of a plain decimal string as an integer count of ``10**-scale`` units.

    Accepts an optional leading minus, digits, and an optional fraction. Trailing zeros beyond
    the scale are fine ("1.500" at scale 1); any other digit beyond it raises ``ScaleError``.
    Exponents, signs other than a leading minus, whitespace and non-ASCII digits are rejected:
    Bybit never sends them, so seeing one means the input is not what we think it is.
    """
    if type(text) is not str:
        raise ScaleError(f"expected a decimal string, got {type(text).__name__}: {text!r}")
    whole, dot, frac = text.partition(".")
    digits = whole[1:] if whole[:1] == "-" else whole
    if not (digits.isdigit() and digits.isascii()) or (frac and not (frac.isdigit() and frac.isascii())):
        raise ScaleError(f"not a plain decimal number: {text!r}")
    n = len(frac)
    if n > scale:
        trimmed = frac.rstrip("0")
        if len(trimmed) > scale:
            raise ScaleError(f"{text!r} has more than {scale} decimals")
        frac = trimmed + "0" * (scale - len(trimmed)) if scale else ""
        n = scale
    magnitude = int(digits + frac) * _POW10[scale - n] if dot else int(digits) * _POW10[scale]
    return -magnitude if whole[:1] == "-" else magnitude


def format_fixed(value: int, scale: int) -> str:
    """Decimal string of ``value * 10**-scale`` with exactly ``scale`` decimals ("95000.10")."""
    if scale == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), _POW10[scale])
    return f"{sign}{whole}.{frac:0{scale}d}"


def to_decimal(value: int, scale: int) -> Decimal:
    """The fixed-point integer as an exact Decimal."""
    return Decimal(value).scaleb(-scale)


def from_decimal(value: Decimal, scale: int) -> int:
    """Exact integer of a Decimal at ``scale``; raises ``ScaleError`` if it needs more decimals."""
    try:
        scaled = value.scaleb(scale)
        integral = scaled.to_integral_value()
    except InvalidOperation as exc:  # NaN, infinity
        raise ScaleError(f"not a finite number: {value!r}") from exc
    if scaled != integral:
        raise ScaleError(f"{value} has more than {scale} decimals")
    return int(integral)


class FixedCache:
    """Memoised ``parse_fixed`` for one scale.

    The same few thousand price and size strings recur on a book feed (about 96% of sizes and
    nearly all prices on a busy BTCUSDT stream), and a dict hit costs a tenth of a parse. The
    cache is cleared when it reaches ``max_entries`` so a long-running process stays bounded.
    """

    __slots__ = ("max_entries", "scale", "values")

    def __init__(self, scale: int, max_entries: int = 1 << 16) -> None:
        self.scale = scale
        self.values: dict[str, int] = {}
        self.max_entries = max_entries

    def parse(self, text: str) -> int:
        value = self.values.get(text)
        if value is None:
            value = parse_fixed(text, self.scale)
            if len(self.values) >= self.max_entries:
                self.values.clear()
            self.values[text] = value
        return value

"""Money as people read it: amounts (pages, mail, admin) and price tags (the pricing page)."""

from decimal import Decimal

from django.utils.formats import number_format


def format_money(amount_cents, currency: str = "usd") -> str:
    """1900, "usd" -> "19.00 USD"; "" for an amount that is not a number."""
    try:
        return f"{int(amount_cents) / 100:,.2f} {str(currency).upper()}"
    except (TypeError, ValueError):
        return ""


# Currencies whose symbol people read in front of the amount in English ("$19"); others keep the code.
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "cad": "CA$", "aud": "A$", "nzd": "NZ$"}
# Stripe's zero-decimal currencies among the common ones: the amount is already in whole units.
ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "isk"}


def format_price(amount_cents, currency: str = "usd") -> str:
    """A price as a customer reads it on a price tag: 1900, "usd" -> "$19"; 1950 -> "$19.50";
    1234500 -> "$12,345". Separators follow the active language (Django's number formats); cents only
    when there are some. "" for an amount that is not a number."""
    code = str(currency).lower()
    try:
        amount = Decimal(int(amount_cents))
    except (TypeError, ValueError):
        return ""
    if code not in ZERO_DECIMAL:
        amount /= 100
    places = 0 if amount == amount.to_integral_value() else 2
    number = number_format(amount, decimal_pos=places, use_l10n=True, force_grouping=True)
    symbol = SYMBOLS.get(code)
    return f"{symbol}{number}" if symbol else f"{number}\u00a0{code.upper()}"

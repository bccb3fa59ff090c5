"""Money as people read it: "$19" for customers (every portal page and billing mail), "19.00 USD" for staff (admin)."""

from decimal import Decimal

from django.utils.formats import number_format


def format_money(amount_cents, currency: str = "usd") -> str:
    """The admin's exact amount: 1900, "usd" -> "19.00 USD"; "" for an amount that is not a number."""
    try:
        return f"{int(amount_cents) / 100:,.2f} {str(currency).upper()}"
    except (TypeError, ValueError):
        return ""


# Currencies whose symbol people read in front of the amount in English ("$19"); others keep the code.
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "cad": "CA$", "aud": "A$", "nzd": "NZ$"}
# Stripe's zero-decimal currencies among the common ones: the amount is already in whole units.
ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "isk"}


def format_price(amount_cents, currency: str = "usd") -> str:
    """Money as a customer reads it, on a price tag, an invoice or a mail: 1900, "usd" -> "$19";
    1950 -> "$19.50"; 1234500 -> "$12,345"; -1900 (a credit) -> "-$19"; 1900, "chf" -> "19 CHF".
    Separators follow the active language (Django's number formats); cents only when there are
    some. "" for an amount that is not a number."""
    code = str(currency).lower()
    try:
        amount = Decimal(int(amount_cents))
    except (TypeError, ValueError):
        return ""
    if code not in ZERO_DECIMAL:
        amount /= 100
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    places = 0 if amount == amount.to_integral_value() else 2
    number = number_format(amount, decimal_pos=places, use_l10n=True, force_grouping=True)
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number}\u00a0{code.upper()}"

"""Money as people read it: the one formatter (pages, mail, admin)."""


def format_money(amount_cents, currency: str = "usd") -> str:
    """1900, "usd" -> "19.00 USD"; "" for an amount that is not a number."""
    try:
        return f"{int(amount_cents) / 100:,.2f} {str(currency).upper()}"
    except (TypeError, ValueError):
        return ""

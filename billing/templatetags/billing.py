from django import template

from billing.access import has_access as _has_access
from billing.money import format_price

register = template.Library()


@register.simple_tag(takes_context=True)
def has_access(context, tier):
    """{% has_access "pro" as can_use_pro %}"""
    request = context.get("request")
    return bool(request and _has_access(request.user, tier))


@register.filter
def cents(amount, currency="usd"):
    """{{ 1900|cents:"usd" }} -> $19 (billing.money.format_price: money as customers read it)"""
    return format_price(amount, currency)

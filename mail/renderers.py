"""Renderers of mail that is stored now and rendered when sent, registered under stable names.

A row stores the name, never a code path: renaming or moving a function keeps queued mail
deliverable as long as the name stays registered. Apps register theirs when they load
(``@renderer("billing.subscription_ended")`` in a module their AppConfig.ready() imports).
"""

from collections.abc import Callable

from django.core.mail import EmailMessage

Renderer = Callable[..., EmailMessage | None]

_renderers: dict[str, Renderer] = {}


class UnknownRenderer(LookupError):
    pass


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Register a function returning the EmailMessage for its kwargs, or None if it no longer applies."""

    def register(function: Renderer) -> Renderer:
        existing = _renderers.setdefault(name, function)
        if existing is not function:
            raise ValueError(f"The mail renderer {name!r} is registered twice.")
        return function

    return register


def render(name: str, args: dict) -> EmailMessage | None:
    try:
        function = _renderers[name]
    except KeyError:
        raise UnknownRenderer(name) from None
    return function(**args)


def registered() -> frozenset[str]:
    return frozenset(_renderers)

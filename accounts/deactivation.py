"""What other apps settle before an account is switched off (billing cancels the subscription).

accounts is identity and never imports them: each app registers one hook in its AppConfig.ready().
A hook has two methods:

- ``describe(user) -> list[str]``: what deactivating does to the person's things, one sentence
  each, shown on the confirmation page before they confirm and repeated in the mail;
- ``settle(user) -> None``: does it. Called BEFORE the account changes and outside any
  transaction (it may call Stripe); raises a DomainError to refuse, and then nothing changes.
"""

from typing import Protocol

from accounts.exceptions import DeactivationRefused
from config.errors import DomainError


class DeactivationHook(Protocol):
    def describe(self, user) -> list[str]: ...

    def settle(self, user) -> None: ...


_hooks: dict[str, DeactivationHook] = {}


def register(name: str, hook: DeactivationHook) -> None:
    """Register (or replace: ready() may run twice in tests) the hook an app calls `name`."""
    _hooks[name] = hook


def describe(user) -> list[str]:
    return [line for hook in _hooks.values() for line in hook.describe(user)]


def settle(user) -> None:
    """Settle every app's part, or raise DeactivationRefused with the reason a person can act on."""
    for hook in _hooks.values():
        try:
            hook.settle(user)
        except DomainError as error:
            raise DeactivationRefused(reason=str(error)) from error

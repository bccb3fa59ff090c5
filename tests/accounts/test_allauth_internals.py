"""allauth's internals that accounts.allauth_internals wraps still exist with the shapes it calls.

When an allauth upgrade moves or reshapes one of them, this fails naming it, instead of a sign-up,
a password change or a code login breaking at run time.
"""

import inspect

import pytest
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal import stagekit
from allauth.account.internal.flows import email_verification, password_change, password_reset, signup
from allauth.account.internal.flows import login as login_flow
from allauth.core import context, ratelimit
from allauth.core.internal import ratelimit as ratelimit_core

from accounts import allauth_internals

# (module, name) -> the parameters our wrapper passes, in order.
CALLED = {
    (email_verification, "send_verification_email_to_address"): ["request", "address", "signup"],
    (email_verification, "send_verification_email_for_user"): ["request", "user"],
    (email_verification, "verify_email"): ["request", "email_address"],
    (password_change, "change_password"): ["user", "password"],
    (password_reset, "reset_password"): ["user", "password"],
    (signup, "send_unknown_account_mail"): ["request", "email"],
    (signup, "prevent_enumeration"): ["request", "email"],
    (ratelimit, "consume"): ["request", "action", "key"],
    (DefaultAccountAdapter, "_get_login_attempts_cache_key"): ["request", "credentials"],
    (ratelimit_core, "get_rates"): ["app", "action"],
    (ratelimit_core, "get_cache_key"): ["request", "app", "action", "rate", "key"],
    (ratelimit_core, "apply_rate"): ["history", "now", "rate", "dry_run"],
    (stagekit, "unstash_login"): ["request", "peek"],
    (stagekit, "get_pending_stage"): ["request"],
    (stagekit, "stash_login"): ["request", "login"],
    (login_flow, "get_authentication_records"): ["request", "user"],
}


@pytest.mark.parametrize(("module", "name"), list(CALLED), ids=[f"{m.__name__}.{n}" for m, n in CALLED])
def test_the_allauth_function_we_call_has_the_parameters_we_pass(module, name):
    function = getattr(module, name, None)
    assert callable(function), f"allauth no longer has {module.__name__}.{name}: update accounts/allauth_internals.py"
    parameters = inspect.signature(function).parameters
    missing = [p for p in CALLED[module, name] if p not in parameters]
    assert not missing, f"{module.__name__}.{name} lost parameter(s) {missing}: update accounts/allauth_internals.py"


def test_allauth_still_publishes_the_request_it_handles(rf):
    request = rf.get("/")
    with context.request_context(request):
        assert allauth_internals.current_request() is request
    assert allauth_internals.current_request() is None


def test_no_other_module_imports_allauth_internals():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("accounts", "billing", "mail", "config")
        for path in (root / app).rglob("*.py")
        if path.name != "allauth_internals.py"
        and ("allauth.account.internal" in path.read_text() or "allauth.core import" in path.read_text())
    ]
    assert offenders == []


def test_allauth_counts_failed_logins_under_the_key_we_read_it_by(rf, db):
    """The Retry-After of a locked API login reads allauth's own counter: same key, same history."""
    from allauth.account.adapter import get_adapter

    request = rf.post("/accounts/login/", REMOTE_ADDR="203.0.113.9")
    credentials = {"username": "Alice", "password": "wrong"}
    key = allauth_internals.login_failed_counter_key(request, credentials)
    assert key.endswith(":alice")
    for _ in range(5):
        get_adapter(request).pre_authenticate(request, **credentials)
    wait = allauth_internals.login_failed_retry_after(request, key=key)
    assert 299 < wait <= 300  # 5/5m/key: the first failure ages out in five minutes

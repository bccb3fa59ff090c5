"""Second factors for tests: enrol one the way allauth stores it, compute the codes an authenticator
app would show (allauth's own TOTP functions), and give a test client a session that passed it."""

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal import auth as totp_auth
from django.http import HttpRequest


def enrol_totp(user) -> str:
    """An authenticator app and recovery codes, as the "set up an app" page leaves them; the secret."""
    secret = totp_auth.generate_totp_secret()
    totp_auth.TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def totp_code(secret: str, *, steps_from_now: int = 0) -> str:
    """The code an authenticator app shows now (or `steps_from_now` periods later)."""
    counter = next(totp_auth.yield_hotp_counters_from_time()) + steps_from_now
    return totp_auth.format_hotp_value(totp_auth.hotp_value(secret, counter))


def recovery_codes(user) -> list[str]:
    return Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES).wrap().get_unused_codes()


def _record(client, user, method: str, **extra) -> None:
    """allauth's own record of an authentication step, written into the test client's session."""
    request = HttpRequest()
    request.session = client.session
    request.user = user
    record_authentication(request, user, method=method, **extra)
    request.session.save()


def sign_in_with_second_factor(client, user) -> None:
    """force_login, plus allauth's records that this session's sign-in used the password and then
    the user's TOTP factor (what its sign-in flow writes). The user must have one (enrol_totp)."""
    client.force_login(user)
    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    _record(client, user, "password", username=user.username)
    _record(client, user, "mfa", id=totp.pk, type="totp")


def mark_reauthenticated(client, user) -> None:
    """allauth's record of a fresh reauthentication by password (what "confirm access" writes)."""
    _record(client, user, "password", reauthenticated=True)

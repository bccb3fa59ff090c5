"""Refusals of the account workflows (accounts.services, accounts.tokens), each with its API status."""

from config.errors import DomainError


class AccountError(DomainError):
    """A business-rule refusal with a message a person can act on."""


class InvalidKey(AccountError):
    """An emailed key or one-time code that is unknown, used or expired."""

    status_code = 401


class InvalidRefreshToken(AccountError):
    """Expired, forged, revoked or replayed: the client must sign in again."""

    status_code = 401


class RefreshTokenNotYours(AccountError):
    """Logout was given a refresh token of another account (or none of ours); the caller's own login ended."""

    status_code = 403
    message = "This refresh token is not one of yours. This login has been signed out."


class InvalidCredentials(AccountError):
    status_code = 401
    message = "Invalid email or password"


class TooManyAddressChanges(AccountError):
    """The "wrong address?" form of a pending sign-up was used up (accounts.services.change_pending_address)."""

    status_code = 429
    message = "You have changed the address too often. Sign up again, or contact us."


class TooManyLoginAttempts(AccountError):
    """allauth's per-account limit on failed password sign-ins, shared with the portal: the account
    is locked for a while, whatever password comes next."""

    status_code = 429
    message = "Too many failed login attempts. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: float = 0):
        super().__init__(message)
        self.retry_after = retry_after


class InvalidIdToken(AccountError):
    """A provider's ID token that does not verify."""

    status_code = 401
    message = "The Google ID token is not valid."


class WrongPassword(AccountError):
    """The account's own password, asked again to confirm a change, did not match."""

    status_code = 403
    message = "Password isn't correct."


class AccountDisabled(AccountError):
    status_code = 403
    message = "User is disabled"


class InvalidCode(AccountError):
    message = "Invalid code or email."


class CodeExpired(AccountError):
    message = "Code has expired."


class EmailBelongsToAnotherAccount(AccountError):
    status_code = 409


class RedirectNotAllowed(AccountError):
    """The app asked to be sent back to a URI that is not on API_SOCIAL_REDIRECT_ALLOWLIST."""

    message = "The next URL is not an allowed app redirect URI."


class ProviderNotConfigured(AccountError):
    """A social provider without credentials on this server."""

    status_code = 503


class DeactivationRefused(AccountError):
    """Something the account owns could not be settled first (e.g. Stripe did not answer to cancel
    the subscription): the account was left as it was, so try again later."""

    status_code = 503

    def __init__(self, message: str | None = None, *, reason: str = ""):
        super().__init__(message or f"Your account was not deactivated: {reason}")
        self.reason = reason or str(self)


class InvalidMfaToken(AccountError):
    """The mfa_token (or passkey_token) of a sign-in's second step is unknown, used or dead."""

    status_code = 401
    message = "This sign-in step is unknown or was already used. Sign in again."


class MfaTokenExpired(InvalidMfaToken):
    message = "This sign-in step has expired. Sign in again."


class IncorrectMfaCode(AccountError):
    """A wrong authenticator or recovery code, or a security key's answer that did not verify."""

    status_code = 401
    message = "Incorrect code."


class NoSecurityKey(AccountError):
    """WebAuthn options were asked for an account that has no security key or passkey."""

    message = "This account has no security key or passkey; use a code."


class PasskeyNotAccepted(AccountError):
    status_code = 401
    message = "The passkey was not accepted."


class PasskeyLoginDisabled(AccountError):
    """MFA_PASSKEY_LOGIN_ENABLED is off on this server."""

    status_code = 404
    message = "Passkey sign-in is not enabled on this server."


class PageNotFound(AccountError):
    """A ?page= past the last page, or not a page number."""

    status_code = 404
    message = "No such page."

"""Template tags for the portal: what this server really offers, nothing it does not."""

from allauth.socialaccount.providers import registry
from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def configured_provider_names() -> list[str]:
    """Names of the social providers with credentials in the settings ("Google", "GitHub").

    Read from the settings (GOOGLE_CLIENT_ID / GITHUB_CLIENT_ID, config/settings.py), not the
    database, so the home page stays query-free; the sign-in and connections pages use allauth's
    own list, which also sees apps added in the admin.
    """
    names = []
    for provider_id, config in settings.SOCIALACCOUNT_PROVIDERS.items():
        if config.get("APPS") or config.get("APP"):
            names.append(registry.get_class(provider_id).name)
    return names


@register.filter
def wait_in_words(seconds) -> str:
    """125 -> "2 minutes 5 seconds"; 60 -> "1 minute"; 9 -> "9 seconds"."""
    minutes, seconds = divmod(max(int(seconds or 0), 0), 60)
    parts = []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    if seconds or not minutes:
        parts.append(f"{seconds} second{'s' if seconds != 1 else ''}")
    return " ".join(parts)


@register.simple_tag
def login_code_lifetime() -> str:
    """How long an emailed sign-in code works, in words ("5 minutes"), from allauth's setting."""
    from allauth.account import app_settings

    return wait_in_words(app_settings.LOGIN_BY_CODE_TIMEOUT)


@register.filter
def browser_name(user_agent: str) -> str:
    """A session's User-Agent as "Chrome on Linux" (accounts/user_agents.py)."""
    from accounts.user_agents import describe_user_agent

    return describe_user_agent(user_agent)


@register.simple_tag
def must_use_second_factor(user) -> bool:
    """True for people the portal requires a second factor of (staff, MFA_REQUIRED_GROUPS)."""
    from accounts.mfa import second_factor_required

    return second_factor_required(user)


@register.simple_tag
def trusted_browser_days() -> int:
    """How many days "trust this browser" lasts (MFA_TRUST_DAYS)."""
    from allauth.mfa import app_settings

    return app_settings.TRUST_COOKIE_AGE.days


@register.filter
def as_text_download(codes) -> str:
    """Recovery codes as a data: URL (one code a line) for a download link on the page that shows
    them: the codes are shown once, so the download must come from that page, not a second request."""
    from urllib.parse import quote

    body = "Gatehouse recovery codes. Each works once.\n\n" + "".join(f"{code}\n" for code in codes)
    return "data:text/plain;charset=utf-8," + quote(body)


@register.simple_tag
def second_factor_enrol_message() -> str:
    """Why someone who must use a second factor is on the setup page (accounts.mfa.ENROL_MESSAGE)."""
    from accounts.mfa import ENROL_MESSAGE

    return ENROL_MESSAGE

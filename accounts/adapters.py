"""Where our rules meet allauth: mail goes to the outbox (sent after commit), users get a provider,
addresses get one spelling, and a sign-in or sign-up costs the same whether the account exists."""

import secrets
from types import SimpleNamespace

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.hashers import make_password
from django.contrib.sites.shortcuts import get_current_site
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.shortcuts import redirect
from django.utils.functional import cached_property

from accounts import allauth_internals
from accounts.models import Profile, Provider, User, normalize_email
from accounts.user_agents import describe_user_agent
from config.links import absolute_reverse
from mail import outbox

UNKNOWN_ACCOUNT_MAIL = "account/email/unknown_account"
INACTIVE_ACCOUNT_MAIL = "account/email/account_inactive_help"


def site_of_setting() -> SimpleNamespace:
    host = settings.SITE_URL.split("://", 1)[-1]
    return SimpleNamespace(name=host, domain=host)


def spend_one_hash() -> None:
    """Hash once for nothing, so that a refusal costs what an acceptance costs (Django's ModelBackend
    does the same for unknown users). The hash is of a fresh random string and is thrown away."""
    make_password(secrets.token_urlsafe(16))


class SignupRaceLost(ImmediateHttpResponse):
    """Another sign-up took the address (or username) between the form's check and our insert.

    The portal answers as it answers a taken address when allauth's middleware reads `response`;
    the API's register catches this before then and answers 422 (accounts.services.register).
    """

    def __init__(self, request, *, email: str, field: str):
        self.request, self.email, self.field = request, email, field

    @cached_property
    def response(self):
        if self.field == "email":
            # What allauth does for an address that exists (ACCOUNT_PREVENT_ENUMERATION): the
            # "verification sent" page, and the "account already exists" mail to the owner.
            return allauth_internals.prevent_enumeration(self.request, self.email)
        messages.error(self.request, "A user with that username already exists.")
        return redirect("account_signup")


class AccountAdapter(DefaultAccountAdapter):
    def can_delete_email(self, email_address) -> bool:
        """Never the primary address. allauth lets the last one go when usernames sign in too,
        which leaves an account no reset, notice or receipt can reach; the page offers no
        "Remove" on the primary row, and this refuses a hand-made POST as well."""
        if email_address.pk and email_address.primary:
            return False
        return super().can_delete_email(email_address)

    def send_mail(self, template_prefix, email, context):
        # Same context allauth builds; only the sending moves to a task.
        # allauth's notices may go out on commit, after its request context has closed: the
        # adapter's own request then, and SITE_URL's host outside any request.
        request = allauth_internals.current_request() or getattr(self, "request", None)
        ctx = {
            "request": request,
            "email": email,
            "current_site": get_current_site(request) if request is not None else site_of_setting(),
            "support_email": settings.SUPPORT_EMAIL,
            # What a security notice (base_notification) tells its reader to do if it was not them.
            "password_reset_url": absolute_reverse("account_reset_password"),
            "security_url": absolute_reverse("accounts_security"),
            "sessions_url": absolute_reverse("usersessions_list"),
            **context,
        }
        if "user_agent" in ctx and "device" not in ctx:
            ctx["device"] = describe_user_agent(ctx["user_agent"])
        if template_prefix == UNKNOWN_ACCOUNT_MAIL:
            # allauth looks up active users only: for a deactivated account's address (a reset or
            # code request) it would say "no record of such an account" and offer a sign-up.
            # Its owner learns the truth instead, and whom to ask.
            inactive = User.objects.filter(email=normalize_email(email), is_active=False).first()
            if inactive is not None:
                template_prefix, ctx["user"] = INACTIVE_ACCOUNT_MAIL, inactive
        outbox.store(self.render_mail(template_prefix, email, ctx))

    def clean_email(self, email):
        return normalize_email(super().clean_email(email))

    def _get_login_attempts_cache_key(self, request, **credentials):
        # allauth counts failed sign-ins per login *as typed*: "alice" and "alice@example.com" would
        # be two counters for one account, doubling a guesser's tries. One counter per account
        # (portal and API alike, accounts.services.authenticate_with_password); an unknown login
        # keeps allauth's own key. One query either way. (A private allauth hook: its signature is
        # pinned in tests/accounts/test_allauth_internals.py.)
        login = (credentials.get("email") or credentials.get("username") or "").strip()
        pk = (
            User.objects.filter(Q(email=normalize_email(login)) | Q(username__iexact=login))
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if pk is None:
            return super()._get_login_attempts_cache_key(request, **credentials)
        return f"{get_current_site(request).domain}:user:{pk}"

    def authenticate(self, request, **credentials):
        # allauth's sign-in form passes the login as both `email` and `username`, and its backend
        # then checks an email match twice (first as the username fallback, then as the email):
        # a known address cost two hashes, an unknown one cost one. `username` alone still finds
        # the user by email first and by username second, each checked once.
        if "username" in credentials and credentials.get("email") == credentials["username"]:
            credentials.pop("email")
        return super().authenticate(request, **credentials)

    def respond_email_verification_sent(self, request, user):
        if user is None:
            # allauth's answer to a sign-up with a taken address (enumeration prevention): no user
            # is saved, so no password is hashed; hash once, as a sign-up that creates one does.
            spend_one_hash()
        return super().respond_email_verification_sent(request, user)

    def get_email_verification_redirect_url(self, email_address):
        if not self.request.user.is_authenticated:
            # Confirmed in a browser that did not sign up (allauth signs in only the one that did):
            # the sign-in form comes with the address filled in (accounts.forms.LoginForm).
            from accounts.forms import CONFIRMED_EMAIL_SESSION_KEY

            self.request.session[CONFIRMED_EMAIL_SESSION_KEY] = email_address.email
        return super().get_email_verification_redirect_url(email_address)

    def save_user(self, request, user, form, commit=True):
        # Sign-up, portal and API alike: the user and its profile in one transaction.
        if not commit:
            return super().save_user(request, user, form, commit=False)
        try:
            with transaction.atomic():
                user = super().save_user(request, user, form, commit=True)
                Profile.objects.for_user(user)
        except IntegrityError:
            # The form checked that the address and username were free; a sign-up running beside
            # this one may have taken them since. The unique constraints said no: answer as for a
            # taken one. Anything else is a real error.
            field = self._taken_field(user)
            if field is None:
                raise
            raise SignupRaceLost(request, email=user.email, field=field) from None
        return user

    @staticmethod
    def _taken_field(user) -> str | None:
        if User.objects.filter(email=normalize_email(user.email)).exists():
            return "email"
        if User.objects.filter(username__iexact=user.username).exists():
            return "username"
        return None


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.provider = Provider(sociallogin.account.provider)
        return user

    def save_user(self, request, sociallogin, form=None):
        with transaction.atomic():
            user = super().save_user(request, sociallogin, form)
            profile = Profile.objects.for_user(user)
            # populate_user set these as plain attributes (User keeps names on the Profile).
            profile.first_name = (getattr(user, "first_name", None) or "")[:150]
            profile.last_name = (getattr(user, "last_name", None) or "")[:150]
            profile.image_url = (sociallogin.account.get_avatar_url() or "")[:500]
            profile.save(update_fields=["first_name", "last_name", "image_url", "updated_at"])
        return user

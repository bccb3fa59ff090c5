import hashlib
import hmac

from allauth.account import app_settings as allauth_settings
from allauth.account.forms import ConfirmLoginCodeForm as AllauthConfirmLoginCodeForm
from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.mfa.webauthn import forms as allauth_webauthn_forms
from django import forms
from django.conf import settings
from django.core.cache import cache

from accounts import pictures
from accounts.models import Profile


class ConfirmLoginCodeForm(AllauthConfirmLoginCodeForm):
    """allauth's code form, with the tries counted in one atomic place.

    allauth counts wrong codes in the session, so concurrent requests of one session overwrite each
    other's count and more than LOGIN_BY_CODE_MAX_ATTEMPTS guesses get checked. Here every try takes
    a numbered ticket from one cache counter per code (Redis INCR) before the code is compared; a
    ticket past the limit is refused unchecked, so at most that many guesses are ever compared.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Phones bring up the number keypad and offer the code from the mail or SMS.
        self.fields["code"].widget.attrs.update(
            inputmode="numeric", autocomplete="one-time-code", pattern="[0-9]*", maxlength="6"
        )

    def clean_code(self) -> str:
        if not self.expected_code:
            return super().clean_code()
        key = (
            "login-code-tries:"
            + hmac.new(settings.SECRET_KEY.encode(), self.expected_code.encode(), hashlib.sha256).hexdigest()
        )
        cache.add(key, 0, timeout=allauth_settings.LOGIN_BY_CODE_TIMEOUT)
        ticket = cache.incr(key)
        if ticket > allauth_settings.LOGIN_BY_CODE_MAX_ATTEMPTS:
            raise forms.ValidationError("Too many wrong codes. Request a new code.", code="too_many_tries")
        try:
            return super().clean_code()
        except forms.ValidationError:
            left = allauth_settings.LOGIN_BY_CODE_MAX_ATTEMPTS - ticket
            tries = "1 try" if left == 1 else f"{left} tries"
            raise forms.ValidationError(f"That code is not right. {tries} left.", code="incorrect_code") from None


# Set by AccountAdapter when an address is confirmed in a browser that is not signed in.
CONFIRMED_EMAIL_SESSION_KEY = "gatehouse_confirmed_email"


class LoginForm(AllauthLoginForm):
    """allauth's sign-in form; after confirming an address in another browser, it comes filled in."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        session = getattr(self.request, "session", None)
        # One field takes a username or an address: password managers fill it as the username.
        self.fields["login"].widget.attrs["autocomplete"] = "username"
        if not self.is_bound and session is not None and session.get(CONFIRMED_EMAIL_SESSION_KEY):
            self.initial["login"] = session.pop(CONFIRMED_EMAIL_SESSION_KEY)
            self.fields["password"].widget.attrs["autofocus"] = True
            self.fields["login"].widget.attrs.pop("autofocus", None)


class ChangePendingAddressForm(forms.Form):
    email = forms.EmailField(label="The right email address", max_length=254)
    email.widget.attrs.update(autocomplete="email")


class ProfileForm(forms.ModelForm):
    """Names and, optionally, a new picture; the picture is checked by decoding it (accounts.pictures)."""

    picture = forms.FileField(
        label="New picture",
        required=False,
        widget=forms.FileInput(attrs={"accept": pictures.ACCEPT_ATTRIBUTE}),
    )

    class Meta:
        model = Profile
        fields = ("first_name", "last_name")
        labels = {"first_name": "First name", "last_name": "Last name"}
        widgets = {
            "first_name": forms.TextInput(attrs={"autocomplete": "given-name"}),
            "last_name": forms.TextInput(attrs={"autocomplete": "family-name"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["picture"].help_text = (
            f"PNG, JPEG, WebP or GIF, up to {pictures.describe_limit()}. "
            f"It is cropped to a square from the middle and shown at up to {pictures.SIZE} pixels."
        )

    def clean_picture(self) -> bytes | None:
        """The re-encoded picture (bytes), or None when no file was chosen."""
        upload = self.cleaned_data.get("picture")
        if not upload:
            return None
        return pictures.normalize(upload)


class DeactivateAccountForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand that I will be signed out everywhere and can no longer sign in.",
        required=True,
    )


class AddWebAuthnForm(allauth_webauthn_forms.AddWebAuthnForm):
    """allauth's "add a key" form, worded for people: a passkey (signs in alone) is the default."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].label = "Name"
        self.fields["name"].help_text = "For example “Work laptop” or “YubiKey”."
        if "passwordless" in self.fields:
            self.fields["passwordless"].label = "Use it as a passkey: sign in with this key alone"
            self.fields["passwordless"].help_text = (
                "The device must confirm it is you (fingerprint, face or PIN). Untick for a security key "
                "that is only the second step after your password."
            )
            self.fields["passwordless"].initial = True

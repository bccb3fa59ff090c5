from rest_framework import serializers

from accounts.models import Profile, SecurityEvent, User, normalize_email
from accounts.services import is_verified


class NormalizedEmailField(serializers.EmailField):
    """An address in its one stored spelling (accounts.models.normalize_email)."""

    def to_internal_value(self, data):
        return normalize_email(super().to_internal_value(data))


class ProfileSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField(
        help_text="The picture: the absolute URL of the one uploaded in the portal, else the URL an "
        "app or a Google/GitHub sign-up set; empty without one."
    )

    class Meta:
        model = Profile
        fields = ("first_name", "last_name", "image_url")

    def get_image_url(self, profile) -> str:
        return profile.avatar_url()


class UserSerializer(serializers.ModelSerializer):
    profile = ProfileSerializer(read_only=True)
    is_verified = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ("id", "email", "username", "provider", "is_verified", "is_staff", "profile")
        read_only_fields = fields

    def get_is_verified(self, user) -> bool:
        return is_verified(user)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Access JWT, sent as `Authorization: Bearer <token>`.")
    refresh_token = serializers.CharField(help_text="Refresh JWT; also set as an httpOnly cookie on /api/.")
    type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    user = UserSerializer(required=False)


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ErrorsSerializer(serializers.Serializer):
    errors = serializers.DictField(child=serializers.CharField(), help_text="One message per field.")


class RegisterInput(serializers.Serializer):
    email = NormalizedEmailField(max_length=254)
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class LoginInput(serializers.Serializer):
    email = serializers.CharField(max_length=254, help_text="Email address or username.")
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class RefreshInput(serializers.Serializer):
    refresh_token = serializers.CharField(
        required=False, max_length=4096, help_text="Optional when the refresh cookie is sent."
    )


class EmailInput(serializers.Serializer):
    email = NormalizedEmailField(max_length=254)


class NewPasswordInput(serializers.Serializer):
    token = serializers.CharField(max_length=512, help_text="The key from the reset link: `<uid>-<key>`.")
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class ChangePasswordInput(serializers.Serializer):
    old_password = serializers.CharField(max_length=4096, trim_whitespace=False)
    new_password = serializers.CharField(max_length=4096, trim_whitespace=False)


class LoginCodeInput(serializers.Serializer):
    email = NormalizedEmailField(max_length=254)
    code = serializers.CharField(max_length=32)


class ProfileInput(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    image_url = serializers.URLField(max_length=500, required=False, allow_blank=True)


class GoogleTokenInput(serializers.Serializer):
    id_token = serializers.CharField(max_length=8192)


class ExchangeInput(serializers.Serializer):
    code = serializers.CharField(max_length=256)


class DeactivateInput(serializers.Serializer):
    password = serializers.CharField(
        required=False, max_length=4096, trim_whitespace=False, help_text="Not needed for social-only accounts."
    )


class MfaRequiredSerializer(serializers.Serializer):
    """A 401 of a sign-in: `detail` says why; "mfa_required" comes with what the second step needs."""

    detail = serializers.CharField(help_text='"mfa_required" when the account has a second factor.')
    mfa_token = serializers.CharField(
        required=False, help_text="For POST /api/login/mfa: single-use, expires after `expires_in` seconds."
    )
    methods = serializers.ListField(
        child=serializers.ChoiceField(choices=["totp", "webauthn", "recovery_codes"]),
        required=False,
        help_text="What can finish this sign-in: an authenticator code, a security key or passkey, a recovery code.",
    )
    expires_in = serializers.IntegerField(required=False, help_text="Seconds the mfa_token stays usable.")


class AssertionResponseInput(serializers.Serializer):
    clientDataJSON = serializers.CharField(max_length=4096)
    authenticatorData = serializers.CharField(max_length=4096)
    signature = serializers.CharField(max_length=2048)
    userHandle = serializers.CharField(max_length=512, required=False, allow_null=True, allow_blank=True)


class WebAuthnCredentialInput(serializers.Serializer):
    """A PublicKeyCredential from navigator.credentials.get() (or the platform's passkey API) in
    WebAuthn's JSON form: binary members base64url-encoded."""

    id = serializers.CharField(max_length=1024)
    rawId = serializers.CharField(max_length=1024)
    type = serializers.ChoiceField(choices=["public-key"])
    response = AssertionResponseInput()
    authenticatorAttachment = serializers.ChoiceField(
        choices=["platform", "cross-platform"], required=False, allow_null=True
    )
    clientExtensionResults = serializers.DictField(required=False)


class MfaLoginInput(serializers.Serializer):
    mfa_token = serializers.CharField(max_length=256, help_text="From the mfa_required answer of the first step.")
    code = serializers.CharField(
        max_length=64, required=False, help_text="An authenticator app code or a recovery code."
    )
    credential = WebAuthnCredentialInput(
        required=False, help_text="Or a security key's answer to the options of POST /api/login/mfa/webauthn."
    )

    def validate(self, data):
        if ("code" in data) == ("credential" in data):
            raise serializers.ValidationError({"code": "Give a code, or a credential from a security key."})
        return data


class MfaTokenInput(serializers.Serializer):
    mfa_token = serializers.CharField(max_length=256)


class WebAuthnOptionsSerializer(serializers.Serializer):
    request_options = serializers.DictField(
        help_text="For navigator.credentials.get() (or the platform's passkey API): `publicKey` with the challenge."
    )


class PasskeyOptionsSerializer(WebAuthnOptionsSerializer):
    passkey_token = serializers.CharField(help_text="For POST /api/login/passkey: single-use.")
    expires_in = serializers.IntegerField(help_text="Seconds the challenge stays usable.")


class PasskeyLoginInput(serializers.Serializer):
    passkey_token = serializers.CharField(max_length=256)
    credential = WebAuthnCredentialInput()


class SecurityEventSerializer(serializers.ModelSerializer):
    description = serializers.CharField(source="get_kind_display", help_text="What happened, in words.")
    ip = serializers.IPAddressField(allow_null=True, help_text="Where the request came from.")
    device = serializers.CharField(help_text='The browser or app and its system, e.g. "Chrome on Linux".')
    method = serializers.CharField(help_text='How, for sign-ins: "Password", "App, emailed code"...')

    class Meta:
        model = SecurityEvent
        fields = ("id", "kind", "description", "created_at", "ip", "device", "method", "detail")
        read_only_fields = fields

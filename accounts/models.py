import unicodedata
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models, transaction
from django.db.models.functions import Lower

from accounts import pictures


def normalize_email(email: str | None) -> str:
    """The one spelling of an address that is stored and looked up: trimmed, NFC, lowercased in Python.

    Databases disagree on case: SQLite's lower() and LIKE fold ASCII only, so "EXÄMPLE" and "exämple"
    would be two addresses there. Every store and every lookup goes through this function and
    compares exactly; allauth lowercases in Python too (its lookups are exact on `email.lower()`).
    """
    return unicodedata.normalize("NFC", (email or "").strip()).lower()


class Provider(models.TextChoices):
    LOCAL = "local", "Email and password"
    GOOGLE = "google", "Google"
    GITHUB = "github", "GitHub"


class UserManager(DjangoUserManager):
    """Every user has exactly one profile: each path that creates users makes it in the same transaction
    (these two, createsuperuser through them, allauth's adapters for sign-up and social, the admin)."""

    def get_by_natural_key(self, username):
        # Usernames are unique case-insensitively, so "Alice" signs in as "alice".
        return self.get(username__iexact=username)

    def create_user(self, username, email=None, password=None, **extra_fields):
        with transaction.atomic(using=self.db):
            user = super().create_user(username, email, password, **extra_fields)
            Profile.objects.db_manager(self.db).for_user(user)
        return user

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        """Also marks the address verified: whoever runs `createsuperuser` holds the server, and
        allauth's mandatory verification would otherwise stop the first staff sign-in at "verify your
        email" with the link only in the console (or a mailbox that does not exist yet)."""
        with transaction.atomic(using=self.db):
            user = super().create_superuser(username, email, password, **extra_fields)
            Profile.objects.db_manager(self.db).for_user(user)
            if user.email:
                from allauth.account.models import EmailAddress

                EmailAddress.objects.db_manager(self.db).update_or_create(
                    user=user, email=user.email, defaults={"verified": True, "primary": True}
                )
        return user


class User(AbstractUser):
    """An account. Names live on the Profile, so AbstractUser's copies are removed."""

    first_name = None
    last_name = None
    email = models.EmailField("email address")
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.LOCAL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with this email address already exists.",
            ),
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with this username already exists.",
            ),
        ]

    def __str__(self):
        return self.email or self.username

    def clean(self):
        super().clean()
        self.email = normalize_email(self.email)

    def save(self, *args, **kwargs):
        # Stored normalised: one spelling per address keeps the unique constraint and every
        # (exact) lookup in agreement on every database.
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def get_full_name(self):
        return self.profile.full_name or self.username

    def get_short_name(self):
        return self.profile.first_name or self.username


class ProfileManager(models.Manager):
    def for_user(self, user: User) -> "Profile":
        """The user's profile, made now if the user has none yet (idempotent)."""
        profile, _ = self.get_or_create(user=user)
        user.profile = profile
        return profile


class Profile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    # An external picture: the avatar of a Google/GitHub sign-up, or a URL an API client set.
    image_url = models.URLField("image URL", max_length=500, blank=True)
    # An uploaded picture (accounts.pictures): re-encoded, content-addressed; wins over image_url.
    picture = models.FileField("picture", upload_to="pictures/", max_length=100, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProfileManager()

    def __str__(self):
        return f"Profile of {self.user}"

    @property
    def picture_path(self) -> str:
        """The uploaded picture's URL path on this site ("" without one)."""
        return pictures.url_path(self.picture.name) if self.picture else ""

    def avatar_url(self) -> str:
        """The picture as an absolute URL for API clients: the uploaded one (on SITE_URL, the
        public base mail links use too), else the external one; "" without a picture."""
        path = self.picture_path
        return settings.SITE_URL + path if path else self.image_url


class TokenFamily(models.Model):
    """One API login: every refresh token rotated from it shares this row.

    A replayed (already rotated) refresh token revokes the whole family; deactivation and
    password changes revoke families too. Access tokens carry the family id and die with it.
    """

    class RevokedReason(models.TextChoices):
        LOGOUT = "logout", "Signed out"
        REPLAY = "replay", "Refresh token replayed"
        PASSWORD = "password", "Password changed or reset"
        DEACTIVATED = "deactivated", "Account deactivated"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="token_families")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="The absolute end of this login, however often it is refreshed.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=16, choices=RevokedReason.choices, blank=True)
    amr = models.JSONField(
        "authentication methods",
        default=list,
        blank=True,
        help_text='How this login was made (the tokens\' "amr" claim), e.g. ["pwd", "otp"] or ["webauthn"].',
    )

    class Meta:
        verbose_name_plural = "token families"
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self):
        return f"API login {self.pk} of {self.user_id}"


class LoginCode(models.Model):
    """A one-time sign-in code sent by email for the API (the portal uses allauth's, same rules)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self):
        return f"Login code for {self.user_id}"


class SocialHandoff(models.Model):
    """The one-time code the social web flow hands to the app, exchanged for tokens once."""

    code_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    amr = models.JSONField(default=list, blank=True, help_text="The methods the browser signed in with.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Social handoff for {self.user_id}"


class LoginChallenge(models.Model):
    """An API sign-in halfway through, named by a one-time token of which only a hash is kept.

    SECOND_FACTOR: the first factor was right (`amr`) and the user has a second one; the app
    finishes with a code or a WebAuthn assertion (accounts.mfa_login). PASSKEY: a passkey sign-in's
    WebAuthn challenge, for a user not known until the assertion names one. Either is used once,
    expires after API_MFA_TOKEN_TIMEOUT, and a second-factor token dies after
    API_MFA_TOKEN_MAX_ATTEMPTS tries.
    """

    class Kind(models.TextChoices):
        SECOND_FACTOR = "mfa", "Second factor after a first"
        PASSKEY = "passkey", "Passkey sign-in"

    token_hash = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    amr = models.JSONField(default=list, blank=True, help_text="The factors already passed.")
    webauthn_state = models.JSONField(null=True, blank=True, help_text="allauth's state of the WebAuthn challenge.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.user_id or 'anyone'}"

import factory
from allauth.account.models import EmailAddress

from accounts.models import Profile, User

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(DEFAULT_PASSWORD)

    @factory.post_generation
    def profile(user, create, extracted, **kwargs):
        """Every user has a profile (the paths that create users in the app make it too)."""
        if create:
            Profile.objects.for_user(user)

    @factory.post_generation
    def verified(user, create, extracted, **kwargs):
        """Users have a primary email address, verified unless `verified=False` is given."""
        if create:
            EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=extracted is not False)

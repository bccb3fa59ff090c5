"""Where our rules meet allauth: mail goes to the outbox (sent after commit), users get a provider."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction

from accounts import allauth_internals
from accounts.models import Profile, Provider
from mail import outbox


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        # Same context allauth builds; only the sending moves to a task.
        request = allauth_internals.current_request()
        ctx = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        outbox.store(self.render_mail(template_prefix, email, ctx))

    def save_user(self, request, user, form, commit=True):
        # Sign-up, portal and API alike: the user and its profile in one transaction.
        if not commit:
            return super().save_user(request, user, form, commit=False)
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=True)
            Profile.objects.for_user(user)
        return user


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

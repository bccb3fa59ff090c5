"""Where our rules meet allauth: mail goes through Celery on commit, users get a provider."""

from functools import partial

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.db import IntegrityError, transaction

from accounts.models import OutboundEmail, Provider
from accounts.outbox import dispatch


def enqueue_email(message, *, dedupe_key: str | None = None) -> OutboundEmail | None:
    """Store a rendered EmailMessage in the outbox; a Celery task sends it once this commits.

    With a ``dedupe_key`` the mail is stored at most once for that key (a unique column, so two
    concurrent transactions cannot both store it); a repeat returns None.
    """
    html = next((content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), "")
    fields = {"to": list(message.to), "from_email": message.from_email, "subject": message.subject}
    fields.update(body=message.body, html=html, dedupe_key=dedupe_key)
    if dedupe_key is None:
        outbound = OutboundEmail.objects.create(**fields)
    else:
        try:
            with transaction.atomic():
                outbound = OutboundEmail.objects.create(**fields)
        except IntegrityError:
            return None
    # A broker outage must not fail what already committed: the mail waits in the outbox.
    transaction.on_commit(partial(dispatch, outbound.pk), robust=True)
    return outbound


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        # Same context allauth builds; only the sending moves to a task.
        from allauth.account.adapter import context as allauth_context
        from django.contrib.sites.shortcuts import get_current_site

        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        enqueue_email(self.render_mail(template_prefix, email, ctx))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.provider = Provider(sociallogin.account.provider)
        return user

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        profile = user.profile
        # populate_user set these as plain attributes (User keeps names on the Profile).
        profile.first_name = (getattr(user, "first_name", None) or "")[:150]
        profile.last_name = (getattr(user, "last_name", None) or "")[:150]
        profile.image_url = (sociallogin.account.get_avatar_url() or "")[:500]
        profile.save(update_fields=["first_name", "last_name", "image_url", "updated_at"])
        return user

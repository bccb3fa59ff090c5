from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.decorators import reauthentication_required
from allauth.usersessions.views import ListUserSessionsView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_ratelimit.decorators import ratelimit

from accounts import deactivation, pictures, security, services
from accounts.exceptions import DeactivationRefused, TooManyAddressChanges
from accounts.forms import ChangePendingAddressForm, DeactivateAccountForm, ProfileForm
from accounts.models import Profile
from accounts.services import deactivate_account


def _profile_rate(group, request) -> str:
    return settings.PROFILE_RATE_LIMIT


@csrf_exempt  # only so the upload handler can be set before CsrfViewMiddleware reads the body
@login_required
@require_http_methods(["GET", "POST"])
# Each picture is decoded (up to 40 megapixels): saves are limited per person, counted before the
# body is read; past the limit the shared 429 page (RATELIMIT_VIEW).
@ratelimit(key="user", rate=_profile_rate, method="POST", block=True)
def profile(request):
    # Must be set before anything reads request.POST/FILES; the CSRF check follows in _profile.
    request.upload_handlers = [pictures.PictureUploadHandler(request)]
    return _profile(request)


@csrf_protect
def _profile(request):
    profile = request.user.profile
    bound = request.method == "POST"
    form = ProfileForm(request.POST if bound else None, request.FILES if bound else None, instance=profile)
    status = 200
    if bound and form.is_valid():
        picture = form.cleaned_data["picture"]
        try:
            if picture is not None:
                pictures.replace(profile, picture)
        except pictures.StorageUnavailable:
            form.add_error(
                "picture", "We cannot save pictures right now. Your names were not saved either: try again later."
            )
            status = 503
        else:
            form.save()
            messages.success(
                request, "Your new picture and profile are saved." if picture else "Your profile is saved."
            )
            return redirect("accounts_profile")
    elif bound:
        status = 422
    context = {
        "form": form,
        "profile": profile,
        "picture_url": profile.picture_path or "",
        "external_picture": bool(profile.image_url) and not profile.picture,
        "support_email": settings.SUPPORT_EMAIL,
    }
    return render(request, "accounts/profile.html", context, status=status)


@login_required
@require_POST
def remove_picture(request):
    profile = request.user.profile
    if profile.picture or profile.image_url:
        pictures.remove(profile)
        messages.success(request, "Your picture is removed.")
    else:
        messages.info(request, "You had no picture.")
    return redirect("accounts_profile")


@require_safe
def picture(request, digest: str):
    """One profile picture, streamed from storage (whitenoise serves static files only).

    Public like an avatar (API clients load it without a session), but only while a profile of
    an active account points at it: a replaced, removed or deactivated person's picture is a 404
    even if its file is still on disk. The URL is content-addressed, so it is cached for a year.
    """
    name = f"{pictures.FOLDER}/{digest}.webp"
    if not Profile.objects.filter(picture=name, user__is_active=True).exists():
        raise Http404("No such picture.")
    etag = f'"{digest}"'
    cache_control = "public, max-age=31536000, immutable"
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        try:
            stream = default_storage.open(name, "rb")
        except FileNotFoundError:
            raise Http404("No such picture.") from None
        response = FileResponse(stream, content_type=pictures.CONTENT_TYPE)
        response["Content-Disposition"] = "inline"
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@reauthentication_required
@require_http_methods(["GET", "POST"])
def deactivate(request):
    form = DeactivateAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            deactivate_account(user=request.user, request=request)
        except DeactivationRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            logout(request)
            messages.success(request, "Your account has been deactivated and every session signed out.")
            return redirect("home")
    notes = deactivation.describe(request.user)
    return render(request, "accounts/deactivate.html", {"form": form, "notes": notes})


@require_safe
def verification_sent(request):
    """allauth's "check your email" page, with what a person needs there: the address, a resend
    with its cooldown, a way to fix a mistyped address, and whom to ask."""
    return _verification_sent_page(request, services.pending_verification(request=request), ChangePendingAddressForm())


def _verification_sent_page(request, pending, change_form, status=200):
    context = {
        "pending": pending,
        "change_form": change_form,
        "expire_days": allauth_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS,
    }
    return render(request, "account/verification_sent.html", context, status=status)


def _nothing_pending(request):
    messages.info(request, "Sign in, and if your address still needs confirming we will send a new link.")
    return redirect("account_login")


@require_POST
def resend_verification(request):
    pending = services.pending_verification(request=request)
    if pending is None:
        return _nothing_pending(request)
    if not services.resend_pending_verification(request=request, pending=pending):
        messages.error(
            request, "We sent you an email a moment ago. You can ask for another one when the wait below is over."
        )
    return redirect("account_email_verification_sent")


@require_POST
def change_pending_address(request):
    pending = services.pending_verification(request=request)
    if pending is None:
        return _nothing_pending(request)
    form = ChangePendingAddressForm(request.POST)
    if not form.is_valid():
        return _verification_sent_page(request, pending, form, status=422)
    try:
        services.change_pending_address(request=request, pending=pending, email=form.cleaned_data["email"])
    except TooManyAddressChanges as refusal:
        messages.error(request, str(refusal))
    return redirect("account_email_verification_sent")


@login_required
@require_POST
def end_session(request, session_id: int):
    """One session's "Sign out" on the session list; this device's own signs out here too."""
    current = request.session.session_key
    is_current = services.current_session_id(user=request.user, session_key=current) == session_id
    if not services.end_session(user=request.user, session_id=session_id, request=request):
        messages.info(request, "That session had already ended.")
    elif is_current:
        logout(request)
        messages.success(request, "You have signed out on this device.")
        return redirect("home")
    else:
        messages.success(request, "That session has been signed out.")
    return redirect("usersessions_list")


class SessionListView(ListUserSessionsView):
    """allauth's session list; "Sign out everywhere else" also goes into the security history."""

    def form_valid(self, form):
        services.end_other_sessions(request=self.request, user=self.request.user)
        get_account_adapter().add_message(self.request, messages.INFO, "usersessions/messages/sessions_logged_out.txt")
        return redirect(self.get_success_url())


session_list = SessionListView.as_view()

SECURITY_EVENTS_PER_PAGE = 20


@login_required
@require_safe
def security_history(request):
    """What happened to this account, newest first: sign-ins, changes, refusals."""
    paginator = Paginator(security.events_for(request.user), SECURITY_EVENTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "accounts/security.html", {"page": page, "events": page.object_list})

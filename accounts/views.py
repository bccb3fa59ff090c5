from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.decorators import reauthentication_required
from allauth.usersessions.views import ListUserSessionsView
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts import deactivation, security, services
from accounts.exceptions import DeactivationRefused, TooManyAddressChanges
from accounts.forms import ChangePendingAddressForm, DeactivateAccountForm, ProfileForm
from accounts.services import deactivate_account


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=request.user.profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your profile has been saved.")
        return redirect("accounts_profile")
    return render(request, "accounts/profile.html", {"form": form})


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

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import deactivation
from accounts.exceptions import DeactivationRefused
from accounts.forms import DeactivateAccountForm, ProfileForm
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

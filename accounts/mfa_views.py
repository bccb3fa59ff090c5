"""allauth views wrapped with our rules (accounts/urls.py puts them at allauth's own URLs and names).

* Changing or setting the password asks for reauthentication first (the password, or the second
  factor), as allauth already does for addresses, providers and MFA changes.
* Removing a security key is refused when it is the last second factor of someone who must keep
  one; allauth asks the adapter only when an authenticator app is turned off.
"""

from allauth.account import views as account_views
from allauth.account.decorators import reauthentication_required
from allauth.mfa.models import Authenticator
from allauth.mfa.webauthn import views as webauthn_views
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect

from accounts.mfa import KEEP_ONE_MESSAGE, MFAAdapter

change_password = login_required(reauthentication_required(account_views.password_change, app="allauth.account"))
set_password = login_required(reauthentication_required(account_views.password_set, app="allauth.account"))


@login_required
def remove_webauthn(request, pk: int):
    authenticator = get_object_or_404(Authenticator, pk=pk, user=request.user, type=Authenticator.Type.WEBAUTHN)
    if not MFAAdapter().can_delete_authenticator(authenticator):
        messages.error(request, KEEP_ONE_MESSAGE)
        return redirect("mfa_list_webauthn")
    return webauthn_views.remove_webauthn(request, pk=pk)

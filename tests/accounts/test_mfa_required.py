"""Staff (and MFA_REQUIRED_GROUPS) must use a second factor: without one they reach only the pages
that set one up; the admin also needs a session that passed it; their last factor stays."""

import pytest
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.mfa import ENROL_MESSAGE, KEEP_ONE_MESSAGE, admin_has_permission
from billing.models import Plan
from tests.billing.test_plans_admin import TEAM, change_form
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.mfa_helpers import enrol_totp, mark_reauthenticated, sign_in_with_second_factor, totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_staff():
    """A staff member who has not set up a second factor yet (staff made before MFA was required)."""
    return UserFactory(username="newstaff", email="newstaff@example.com", is_staff=True, is_superuser=True)


def every_admin_page() -> list[str]:
    """The admin index, each registered model's list and add page, and each app's index."""
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        pages.append(reverse("admin:app_list", args=[meta.app_label]))
    return sorted(set(pages))


def test_staff_without_a_factor_cannot_open_any_admin_page(client, new_staff):
    client.force_login(new_staff)
    pages = every_admin_page()
    assert len(pages) > 20
    for path in pages:
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/accounts/2fa/"), path
    plan = Plan.objects.get(code="pro-monthly")
    for path in (f"/admin/billing/plan/{plan.pk}/change/", f"/admin/accounts/user/{new_staff.pk}/change/"):
        assert client.get(path)["Location"] == "/accounts/2fa/", path


def test_staff_without_a_factor_cannot_write_a_plan_through_the_admin(client, new_staff, fake_stripe_settings):
    client.force_login(new_staff)
    pro = Plan.objects.get(code="pro-monthly")
    before = (pro.name, pro.price_cents)

    created = client.post("/admin/billing/plan/add/", TEAM)
    changed = client.post(f"/admin/billing/plan/{pro.pk}/change/", change_form(pro, name="Hacked", price_cents="1"))
    deleted = client.post(f"/admin/billing/plan/{pro.pk}/delete/", {"post": "yes"})

    for response in (created, changed, deleted):
        assert response["Location"] == "/accounts/2fa/"
    assert not Plan.objects.filter(code=TEAM["code"]).exists()
    pro.refresh_from_db()
    assert (pro.name, pro.price_cents) == before
    assert fake_stripe_settings.requests == [], "nothing reached Stripe"


def test_the_admin_refuses_them_even_past_the_middleware(rf, new_staff, staff):
    """The admin site's own permission check holds without the middleware (defence in depth)."""
    request = rf.get("/admin/")
    request.user = new_staff
    request.session = Client().session
    assert admin_has_permission(request) is False
    request.user = staff  # a factor, but this session never passed it
    assert admin_has_permission(request) is False
    assert admin.site.has_permission == admin_has_permission


def test_every_portal_page_sends_them_to_set_up_a_factor_with_a_message(client, new_staff):
    client.force_login(new_staff)
    for path in ("/", "/accounts/profile/", "/accounts/email/", "/billing/pricing/", "/billing/subscription/"):
        response = client.get(path)
        assert response["Location"] == "/accounts/2fa/", path
    page = client.get("/accounts/2fa/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count(ENROL_MESSAGE) == 1
    assert "Set up an authenticator app" in html


def test_the_setup_pages_and_sign_out_stay_open(client, new_staff):
    client.force_login(new_staff)
    assert client.get("/accounts/2fa/").status_code == 200
    # Setting up asks for the password first (allauth's reauthentication), which is open too.
    assert client.get("/accounts/2fa/totp/activate/")["Location"].startswith("/accounts/reauthenticate/")
    assert client.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD}).status_code == 302
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    assert client.get("/accounts/2fa/webauthn/add/").status_code == 200
    assert client.get("/livez").status_code == 200
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session


def test_after_enrolling_the_site_opens_and_the_admin_asks_for_the_factor_once(client, new_staff):
    client.force_login(new_staff)  # signed in before enrolling
    client.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})
    client.get("/accounts/2fa/totp/activate/")
    secret = client.session["mfa.totp.secret"]
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=new_staff, type=Authenticator.Type.TOTP).exists()
    assert client.get("/accounts/profile/").status_code == 200

    # This session's sign-in used the password only: the admin asks for the factor first.
    response = client.get("/admin/billing/plan/")
    assert response["Location"] == "/accounts/2fa/reauthenticate/?next=%2Fadmin%2Fbilling%2Fplan%2F"
    wrong = client.post("/accounts/2fa/reauthenticate/?next=/admin/billing/plan/", {"code": "000000"})
    assert wrong.status_code == 200
    assert client.get("/admin/billing/plan/").status_code == 302
    right = client.post(
        "/accounts/2fa/reauthenticate/?next=/admin/billing/plan/", {"code": totp_code(secret, steps_from_now=1)}
    )
    assert right["Location"] == "/admin/billing/plan/"
    assert client.get("/admin/billing/plan/").status_code == 200


def test_a_session_that_passed_the_factor_opens_the_admin(client, staff):
    sign_in_with_second_factor(client, staff)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/billing/plan/").status_code == 200


def test_members_of_a_listed_group_must_enrol_and_others_need_not(client, settings, user):
    settings.MFA_REQUIRED_GROUPS = ["Finance"]
    client.force_login(user)
    assert client.get("/accounts/profile/").status_code == 200
    user.groups.add(Group.objects.create(name="Finance"))
    assert client.get("/accounts/profile/")["Location"] == "/accounts/2fa/"


def test_staff_can_be_exempted_by_the_setting(client, settings, new_staff):
    settings.MFA_REQUIRED_FOR_STAFF = False
    client.force_login(new_staff)
    assert client.get("/accounts/profile/").status_code == 200


def test_the_api_is_left_to_its_own_checks(client, new_staff):
    client.force_login(new_staff)
    assert client.get("/api/billing/plans").status_code == 200


# --- the last factor -------------------------------------------------------------------------


def test_staff_cannot_turn_off_their_only_authenticator_app(client, staff):
    sign_in_with_second_factor(client, staff)
    mark_reauthenticated(client, staff)
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 200
    assert KEEP_ONE_MESSAGE in response.content.decode()
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()


def webauthn_key(user, name="YubiKey") -> Authenticator:
    return Authenticator.objects.create(
        user=user, type=Authenticator.Type.WEBAUTHN, data={"name": name, "credential": {}, "passwordless": False}
    )


def test_staff_cannot_remove_their_only_security_key_but_can_remove_a_spare(client, new_staff):
    only = webauthn_key(new_staff)
    client.force_login(new_staff)
    mark_reauthenticated(client, new_staff)
    response = client.post(f"/accounts/2fa/webauthn/keys/{only.pk}/remove/", follow=True)
    assert KEEP_ONE_MESSAGE in response.content.decode()
    assert Authenticator.objects.filter(pk=only.pk).exists()

    enrol_totp(new_staff)
    response = client.post(f"/accounts/2fa/webauthn/keys/{only.pk}/remove/")
    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=only.pk).exists()


def test_members_may_turn_off_their_last_factor_after_reauthenticating(client, user):
    enrol_totp(user)
    sign_in_with_second_factor(client, user)
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    mark_reauthenticated(client, user)
    assert client.post("/accounts/2fa/totp/deactivate/").status_code == 302
    assert not Authenticator.objects.filter(user=user).exists(), "the recovery codes go with the last factor"

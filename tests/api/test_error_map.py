"""The API's one error map (accounts.api.errors): every domain error answers with its own status and
message, Django's ValidationError with the contract's 422 shape, anything else stays a server error."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import resolve
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from accounts import exceptions as account_errors
from accounts.api.errors import api_exception_handler
from accounts.api.views import PublicView
from billing import exceptions as billing_errors
from config.errors import DomainError

# Every domain error and how the API answers it (api-contract.md's status per refusal).
STATUSES = {
    account_errors.AccountError: 400,
    account_errors.InvalidKey: 401,
    account_errors.InvalidRefreshToken: 401,
    account_errors.RefreshTokenNotYours: 403,
    account_errors.InvalidCredentials: 401,
    account_errors.TooManyLoginAttempts: 429,
    account_errors.TooManyAddressChanges: 429,
    account_errors.InvalidIdToken: 401,
    account_errors.WrongPassword: 403,
    account_errors.AccountDisabled: 403,
    account_errors.InvalidCode: 400,
    account_errors.CodeExpired: 400,
    account_errors.EmailBelongsToAnotherAccount: 409,
    account_errors.RedirectNotAllowed: 400,
    account_errors.PageNotFound: 404,
    account_errors.ProviderNotConfigured: 503,
    account_errors.DeactivationRefused: 503,
    account_errors.InvalidMfaToken: 401,
    account_errors.MfaTokenExpired: 401,
    account_errors.IncorrectMfaCode: 401,
    account_errors.NoSecurityKey: 400,
    account_errors.PasskeyNotAccepted: 401,
    account_errors.PasskeyLoginDisabled: 404,
    billing_errors.BillingError: 503,
    billing_errors.BillingNotConfigured: 503,
    billing_errors.BillingUnavailable: 503,
    billing_errors.PaymentDeclined: 402,
    billing_errors.StripeRejected: 503,
    billing_errors.BillingRuleError: 400,
    billing_errors.AlreadySubscribed: 409,
    billing_errors.PlanCodeTaken: 409,
    billing_errors.NotFound: 404,
}


# The first steps of a sign-in, whose 401 may also be mfa_required (accounts.api.views.SIGN_IN_RESPONSES).
MFA_REQUIRED_401 = {
    (401, path) for path in ("/api/login", "/api/login/code", "/api/social/google/token", "/api/social/exchange")
}


def all_subclasses(cls):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from all_subclasses(subclass)


def answer(exc, view=None):
    request = APIRequestFactory().post("/api/anything")
    return api_exception_handler(exc, {"view": view or APIView(), "request": request})


def test_every_domain_error_has_an_expected_status_here():
    assert set(all_subclasses(DomainError)) == set(STATUSES)


@pytest.mark.parametrize(("error", "status_code"), STATUSES.items(), ids=[cls.__name__ for cls in STATUSES])
def test_a_domain_error_answers_with_its_status_and_message(error, status_code):
    response = answer(error("Something a person can act on."), view=PublicView())
    assert response.status_code == status_code
    assert response.data == {"detail": "Something a person can act on."}


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (account_errors.InvalidCredentials, "Invalid email or password"),
        (account_errors.AccountDisabled, "User is disabled"),
        (account_errors.InvalidCode, "Invalid code or email."),
        (account_errors.CodeExpired, "Code has expired."),
        (account_errors.InvalidIdToken, "The Google ID token is not valid."),
        (account_errors.RedirectNotAllowed, "The next URL is not an allowed app redirect URI."),
        (billing_errors.PlanCodeTaken, "A plan with this code already exists."),
        (billing_errors.BillingNotConfigured, "Billing is not configured on this server."),
    ],
)
def test_an_error_raised_without_a_message_says_its_own(error, message):
    assert answer(error()).data == {"detail": message}


def test_a_401_carries_the_views_bearer_challenge():
    response = answer(account_errors.InvalidCredentials(), view=PublicView())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_other_statuses_carry_no_challenge():
    assert "WWW-Authenticate" not in answer(account_errors.AccountDisabled(), view=PublicView())


def test_a_validation_error_per_field_is_422_with_the_first_message_of_each_field():
    error = ValidationError(
        {"email": ["This email address is already taken.", "Enter a valid email."], "__all__": ["Form-wide."]}
    )
    response = answer(error)
    assert response.status_code == 422
    assert response.data == {"errors": {"email": "This email address is already taken.", "__all__": "Form-wide."}}


def test_a_validation_error_without_fields_is_about_the_views_field():
    class ChangeView(APIView):
        validation_error_field = "new_password"

    error = ValidationError(["This password is too short.", "This password is too common."])
    response = answer(error, view=ChangeView())
    assert response.status_code == 422
    assert response.data == {"errors": {"new_password": "This password is too short."}}


def test_a_validation_error_without_fields_or_a_views_field_is_form_wide():
    response = answer(ValidationError("Something is off."))
    assert response.status_code == 422
    assert response.data == {"errors": {"__all__": "Something is off."}}


def test_any_other_exception_is_left_to_django_as_a_server_error():
    assert answer(RuntimeError("bug")) is None


def test_the_schema_documents_the_statuses_each_view_declares():
    openapi = json.loads(APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    declaring = 0
    for path, operations in openapi["paths"].items():
        view = resolve(path.replace("{plan_id}", "1")).func.view_class
        for method, operation in operations.items():
            declared = {error.status_code for error in getattr(getattr(view, method), "raises", ())}
            declaring += bool(declared)
            documented = {int(code) for code in operation["responses"]}
            assert declared <= documented, f"{method.upper()} {path}: {declared - documented} undocumented"
            for code in declared:
                # A first sign-in step's 401 is a refusal or mfa_required: a Detail with more fields.
                body = "MfaRequired" if (code, path) in MFA_REQUIRED_401 else "Detail"
                assert operation["responses"][str(code)]["content"]["application/json"]["schema"] == {
                    "$ref": f"#/components/schemas/{body}"
                }
    assert declaring >= 20  # the views that let domain errors through say so


def test_a_locked_login_says_when_to_try_again():
    response = answer(account_errors.TooManyLoginAttempts(retry_after=41.2), view=PublicView())
    assert response.status_code == 429
    assert response.data == {"detail": "Too many failed login attempts. Try again later."}
    assert response["Retry-After"] == "42"

"""The audit log of staff changes (issue 16): admin and API edits recorded with who, when, from
where and what changed; append-only down to the database; searchable, filterable, exportable."""

import csv
import io

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from accounts.models import AppendOnlyError, AuditEntry, User
from billing.models import Plan
from tests.api.authenticators import enable_totp, totp_code
from tests.api.conftest import bearer, login, login_with_second_factor
from tests.billing.test_plans_admin import TEAM, change_form, change_url
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/accounts/auditentry/"


@pytest.fixture
def admin_client(client, staff):
    sign_in_with_second_factor(client, staff)  # the admin needs a session that passed the factor
    return client


@pytest.fixture
def admin_api(staff):
    # Staff writes over the API need a login that passed the second factor.
    tokens = login_with_second_factor(APIClient(), "staffer", code=totp_code(enable_totp(staff)))
    return bearer(APIClient(REMOTE_ADDR="198.51.100.20"), tokens["token"])


def only_entry(**filters) -> AuditEntry:
    (entry,) = AuditEntry.objects.filter(**filters)
    return entry


# --- plans --------------------------------------------------------------------------------------


def test_an_admin_edit_of_a_plan_records_who_when_where_and_the_changed_fields(
    admin_client, staff, fake_stripe_settings
):
    admin_client.post("/admin/billing/plan/add/", TEAM, REMOTE_ADDR="203.0.113.50")
    plan = Plan.objects.get(code="team-yearly")
    created = only_entry(action=AuditEntry.Action.CREATE, object_id=str(plan.pk))
    assert created.changes["price_cents"] == [None, 49900]
    assert created.changes["name"] == [None, "Team"]

    response = admin_client.post(change_url(plan), change_form(plan, name="Team Plus", price_cents="59900"))
    assert response.status_code == 302
    entry = only_entry(action=AuditEntry.Action.UPDATE)
    assert (entry.actor_id, entry.actor_label, entry.source, entry.ip) == (staff.pk, "staffer", "admin", "127.0.0.1")
    old_price_id = plan.stripe_price_id
    plan.refresh_from_db()
    assert (entry.object_type, entry.object_id, entry.object_repr) == ("billing.plan", str(plan.pk), str(plan))
    assert entry.changes == {
        "name": ["Team", "Team Plus"],
        "price_cents": [49900, 59900],
        "stripe_price": [old_price_id, plan.stripe_price_id],  # a new Stripe Price: prices are immutable
    }


def test_saving_an_untouched_plan_form_records_nothing(admin_client):
    plan = Plan.objects.get(code="pro-monthly")
    admin_client.post(change_url(plan), change_form(plan))
    assert not AuditEntry.objects.exists()


def test_an_api_edit_of_a_plan_records_the_changed_fields(admin_api, staff, fake_stripe_settings):
    plan = Plan.objects.get(code="business-monthly")
    response = admin_api.patch(
        f"/api/billing/plans/{plan.pk}", {"name": "Business+", "features": ["Everything"]}, format="json"
    )
    assert response.status_code == 200
    entry = only_entry()
    assert (entry.actor_id, entry.source, entry.action, entry.ip) == (staff.pk, "api", "update", "198.51.100.20")
    plan.refresh_from_db()
    assert entry.changes == {
        "name": ["Business", "Business+"],
        "features": [entry.changes["features"][0], ["Everything"]],
        # The demo plan had never been in Stripe: this save put it there.
        "stripe_product": [None, plan.stripe_product_id],
        "stripe_price": [None, plan.stripe_price_id],
    }
    assert entry.changes["features"][0] != ["Everything"]


def test_api_creates_and_deletes_of_plans_are_recorded(admin_api, fake_stripe_settings):
    payload = {"name": "Team", "code": "team-yearly", "tier": "business", "price_cents": 49900}
    created = admin_api.post("/api/billing/plans", payload, format="json")
    assert created.status_code == 201
    plan_id = str(created.json()["id"])
    assert admin_api.delete(f"/api/billing/plans/{plan_id}").status_code == 204
    entries = AuditEntry.objects.filter(object_id=plan_id).order_by("pk")
    assert [(e.action, e.source) for e in entries] == [("create", "api"), ("archive", "api")]
    assert entries[0].changes["code"] == [None, "team-yearly"]
    assert entries[1].changes == {"is_active": [True, False]}


def test_a_refused_api_write_records_nothing(user):
    member = bearer(APIClient(), login(APIClient())["token"])
    plan = Plan.objects.get(code="pro-monthly")
    assert member.patch(f"/api/billing/plans/{plan.pk}", {"name": "Mine"}, format="json").status_code == 403
    assert not AuditEntry.objects.exists()


# --- users, subscriptions ------------------------------------------------------------------------


def test_an_admin_edit_of_a_user_records_fields_groups_and_profile(admin_client, user):
    from django.contrib.auth.models import Group

    support = Group.objects.create(name="Support")
    data = {
        "username": "alice",
        "email": "alice@example.com",
        "provider": "local",
        "is_active": "on",
        "is_staff": "on",
        "groups": [support.pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "profile-TOTAL_FORMS": "1",
        "profile-INITIAL_FORMS": "1",
        "profile-MIN_NUM_FORMS": "0",
        "profile-MAX_NUM_FORMS": "1",
        "profile-0-id": str(user.profile.pk),
        "profile-0-user": str(user.pk),
        "profile-0-first_name": "Alice",
        "profile-0-last_name": "",
        "profile-0-image_url": "",
    }
    response = admin_client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = only_entry()
    assert entry.object_type == "accounts.user"
    assert entry.changes["is_staff"] == [False, True]
    assert entry.changes["groups"] == [[], ["Support"]]
    assert entry.changes["profile.first_name"] == ["", "Alice"]
    assert "password" not in entry.changes


def test_a_password_set_by_staff_is_recorded_without_any_trace_of_it(admin_client, user):
    new = "a-password-staff-chose-99"
    response = admin_client.post(
        f"/admin/accounts/user/{user.pk}/password/", {"password1": new, "password2": new, "usable_password": "true"}
    )
    assert response.status_code == 302
    entry = only_entry()
    assert (entry.action, entry.changes) == ("password", {"password": ["(hidden)", "(changed)"]})
    assert new not in str(entry.changes)
    assert User.objects.get(pk=user.pk).password[:20] not in str(entry.changes)


def test_deactivating_a_user_from_the_admin_is_recorded(admin_client, user):
    admin_client.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]})
    entry = only_entry()
    assert (entry.action, entry.object_id, entry.changes) == ("deactivate", str(user.pk), {"is_active": [True, False]})


def test_deleting_a_subscription_in_the_admin_is_recorded_with_what_it_was(admin_client, user):
    from tests.e2e.shell import subscribe

    subscription = subscribe(user)
    pk = subscription.pk
    response = admin_client.post(f"/admin/billing/subscription/{pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    entry = only_entry()
    assert (entry.action, entry.object_type, entry.object_id) == ("delete", "billing.subscription", str(pk))
    assert entry.changes["status"] == ["active", None]
    assert entry.changes["stripe_subscription_id"] == ["sub_alice", None]


# --- append-only -------------------------------------------------------------------------------


def entry_for_guard() -> AuditEntry:
    return AuditEntry.objects.create(actor_label="staffer", source="admin", action="update", object_type="x.y")


def test_the_database_refuses_to_update_an_audit_entry():
    entry = entry_for_guard()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(note="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_auditentry SET actor_label = 'someone else'")
    entry.refresh_from_db()
    assert (entry.note, entry.actor_label) == ("", "staffer")


def test_the_database_refuses_to_delete_an_audit_entry():
    entry = entry_for_guard()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_auditentry")
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_model_refuses_too():
    entry = entry_for_guard()
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_deleting_a_staff_member_keeps_their_entries(staff):
    entry = entry_for_guard()
    AuditEntry.objects.create(actor=staff, actor_label="staffer", source="api", action="update", object_type="x.y")
    staff.delete()
    assert AuditEntry.objects.filter(actor_label="staffer").count() == 2
    assert entry.pk in AuditEntry.objects.values_list("pk", flat=True)


# --- the admin: read-only, searchable, filterable, CSV ------------------------------------------


def test_the_admin_lists_searches_and_filters_but_cannot_add_edit_or_delete(
    admin_client, admin_api, fake_stripe_settings
):
    plan = Plan.objects.get(code="pro-monthly")
    admin_api.patch(f"/api/billing/plans/{plan.pk}", {"name": "Pro Plus"}, format="json")
    admin_client.post(change_url(plan), change_form(Plan.objects.get(pk=plan.pk), name="Pro"))
    page = admin_client.get(LIST_URL)
    assert page.status_code == 200
    assert page.context["cl"].result_count == 2
    assert admin_client.get(LIST_URL, {"source__exact": "api"}).context["cl"].result_count == 1
    assert admin_client.get(LIST_URL, {"q": "Pro Plus"}).context["cl"].result_count == 1
    entry = AuditEntry.objects.first()
    assert admin_client.get(f"{LIST_URL}add/").status_code == 403
    assert admin_client.get(f"{LIST_URL}{entry.pk}/delete/").status_code == 403
    detail = admin_client.get(f"{LIST_URL}{entry.pk}/change/")
    assert detail.status_code == 200  # the view page, without a save button
    assert b'name="_save"' not in detail.content
    assert "delete_selected" not in page.context["action_form"].fields["action"].choices.__str__()


def test_the_selected_entries_export_as_csv(admin_client, admin_api, fake_stripe_settings):
    plan = Plan.objects.get(code="pro-monthly")
    admin_api.patch(f"/api/billing/plans/{plan.pk}", {"name": 'Pro, "Plus"'}, format="json")
    admin_api.patch(f"/api/billing/plans/{plan.pk}", {"price_cents": 1500}, format="json")
    ids = list(AuditEntry.objects.values_list("pk", flat=True))
    response = admin_client.post(LIST_URL, {"action": "export_csv", "_selected_action": ids})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="gatehouse-audit-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["time (UTC)", "staff member", "staff id", "IP address", "source", "action"]
    assert [row[5] for row in rows[1:]] == ["Changed", "Changed"]
    assert (rows[1][1], rows[1][3], rows[1][4]) == ("staffer", "198.51.100.20", "API")
    assert rows[1][9].startswith("name: 'Pro' -> 'Pro, \"Plus\"'; stripe_price: None -> 'price_")
    assert rows[2][9].startswith("price_cents: 1900 -> 1500; stripe_price: 'price_")


def test_the_sqlite_guard_refuses_update_and_delete_too():
    """`make run`'s SQLite gets the same guard: the migration's statements, on a table of its own."""
    import importlib
    import sqlite3

    migration = importlib.import_module("accounts.migrations.0012_security_history")
    database = sqlite3.connect(":memory:")
    database.execute("CREATE TABLE accounts_auditentry (id INTEGER PRIMARY KEY, note TEXT)")
    for statement in migration.SQLITE_GUARD:
        database.execute(statement)
    database.execute("INSERT INTO accounts_auditentry (note) VALUES ('kept')")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE"):
        database.execute("UPDATE accounts_auditentry SET note = 'rewritten'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE"):
        database.execute("DELETE FROM accounts_auditentry")
    assert database.execute("SELECT note FROM accounts_auditentry").fetchall() == [("kept",)]
    for statement in migration.SQLITE_UNGUARD:  # and the migration can be reversed
        database.execute(statement)
    database.execute("DELETE FROM accounts_auditentry")

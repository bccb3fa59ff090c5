import csv
from datetime import UTC

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import models
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts import audit
from accounts.exceptions import DeactivationRefused
from accounts.models import AuditEntry, Profile, SecurityEvent, User
from accounts.services import deactivate_account

PROFILE_FIELDS = ("first_name", "last_name", "image_url")


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    fields = ("first_name", "last_name", "image_url", "uploaded_picture", "created_at", "updated_at")
    readonly_fields = ("uploaded_picture", "created_at", "updated_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="uploaded picture")
    def uploaded_picture(self, profile):
        # A link, not a file input: pictures are only stored through accounts.pictures (re-encoded).
        if not profile.picture:
            return "-"
        return format_html('<a href="{}">{}</a>', profile.picture_path, profile.picture.name)


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class UserChangeAdminForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(audit.AuditedAdminMixin, DjangoUserAdmin):
    form = UserChangeAdminForm
    audit_m2m = ("groups", "user_permissions")
    add_form = UserCreationForm
    inlines = [ProfileInline]
    list_display = ("username", "email", "provider", "is_active", "is_staff", "created_at")
    list_filter = ("is_active", "is_staff", "is_superuser", "provider", "created_at")
    search_fields = ("username", "email", "profile__first_name", "profile__last_name")
    ordering = ("-created_at",)
    list_select_related = ("profile",)
    readonly_fields = ("last_login", "date_joined", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("username", "email", "password", "provider")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),
    )

    actions = ["deactivate"]

    @admin.action(description="Deactivate selected users (sign out everywhere, no further sign-in)")
    def deactivate(self, request, queryset):
        deactivated = 0
        for user in queryset.filter(is_active=True):
            try:
                deactivate_account(user=user, request=request)
            except DeactivationRefused as refusal:
                self.message_user(request, f"{user} was not deactivated: {refusal.reason}", messages.ERROR)
            else:
                deactivated += 1
                changes = {"is_active": [True, False]}
                audit.record(request=request, action=audit.Action.DEACTIVATE, obj=user, changes=changes)
        self.message_user(request, f"Deactivated {deactivated} user(s).")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)  # inside the admin's transaction
        if not change:
            Profile.objects.for_user(obj)

    def audit_snapshot(self, obj) -> dict:
        # The profile inline is part of the page: its fields are audited with the user's.
        profile = Profile.objects.filter(user_id=obj.pk).values(*PROFILE_FIELDS).first() or {}
        return audit.snapshot(obj, m2m=self.audit_m2m, extra={f"profile.{k}": v for k, v in profile.items()})

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # saved (a refusal re-renders the form)
            user = User.objects.get(pk=id)
            changes = {"password": [audit.HIDDEN, audit.CHANGED]}
            audit.record(request=request, action=audit.Action.PASSWORD, obj=user, changes=changes)
        return response

    def get_inlines(self, request, obj):
        # The profile is created with the user; an inline on the add page would make a second one.
        return self.inlines if obj is not None else []


class _Echo:
    """A file-like object that hands back what is written: csv.writer's rows, streamed."""

    def write(self, value):
        return value


CSV_COLUMNS = (
    "time (UTC)",
    "staff member",
    "staff id",
    "IP address",
    "source",
    "action",
    "object type",
    "object id",
    "object",
    "changes",
    "note",
)


def audit_csv_rows(entries):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries.iterator(chunk_size=500):
        changes = "; ".join(f"{name}: {before!r} -> {after!r}" for name, (before, after) in entry.changes.items())
        yield writer.writerow(
            [
                entry.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                entry.actor_label,
                entry.actor_id or "",
                entry.ip or "",
                entry.get_source_display(),
                entry.get_action_display(),
                entry.object_type,
                entry.object_id,
                entry.object_repr,
                changes,
                entry.note,
            ]
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """An append-only record: staff read it, nobody adds, edits or deletes a row here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "actor_label",
        "source",
        "action",
        "object_type",
        "object_repr",
        "changed_fields",
        "ip",
    )
    list_filter = ("source", "action", "object_type", "created_at")
    search_fields = ("actor_label", "object_repr", "object_id", "ip", "note")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "actor_label",
        "actor",
        "ip",
        "source",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes_table",
        "note",
    )
    readonly_fields = fields
    actions = ["export_csv"]

    @admin.display(description="changed")
    def changed_fields(self, entry):
        return ", ".join(entry.changes) or "\u2014"

    @admin.display(description="changes")
    def changes_table(self, entry):
        if not entry.changes:
            return "\u2014"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, before, after) for name, (before, after) in entry.changes.items()),
        )
        return format_html("<table><tr><th>Field</th><th>Before</th><th>After</th></tr>{}</table>", rows)

    @admin.action(description="Export selected entries as CSV")
    def export_csv(self, request, queryset):
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(audit_csv_rows(queryset.order_by("created_at", "pk")), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="gatehouse-audit-{stamp}.csv"'
        return response


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "kind", "method", "device", "ip", "detail")
    list_filter = ("kind", "created_at")
    search_fields = ("user__email", "user__username", "ip", "device", "detail")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    raw_id_fields = ("user",)
    fields = ("created_at", "user", "kind", "method", "device", "ip", "user_agent", "detail")
    readonly_fields = fields
